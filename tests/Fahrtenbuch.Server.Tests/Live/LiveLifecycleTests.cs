using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Live;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Fahrtenbuch.Server.Tests.Live;

/// <summary>Sessions ending, limits, the hub, and a server restart on the same SQLite file.</summary>
public sealed class LiveLifecycleTests(LiveAppFactory app) : IClassFixture<LiveAppFactory>
{
    [Fact]
    public async Task DisabledUser_StreamIsClosed_AtOnce()
    {
        var chef = await app.ApiAsync("chef@demo.local");
        var ben = (await chef.GetFromJsonAsync<List<JsonElement>>("/api/users", TestContext.Current.CancellationToken))!
            .Single(u => u.GetProperty("email").GetString() == "ben@demo.local").GetProperty("id").GetGuid();
        await using var stream = await app.OpenStreamAsync(await app.TokenAsync("ben@demo.local"));

        (await chef.PostAsync($"/api/users/{ben}/disable", null, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        var items = await stream.ToEndAsync();
        Assert.DoesNotContain(items, i => i.EventType == EventTypes.UserDisabled);
        (await chef.PostAsync($"/api/users/{ben}/enable", null, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Logout_ClosesTheSessionsStreamsAndHubConnections()
    {
        var token = await app.TokenAsync("clara@demo.local");
        await using var stream = await app.OpenStreamAsync(token);
        await using var hub = app.Hub(token);
        var closed = new TaskCompletionSource();
        hub.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        await hub.StartAsync(TestContext.Current.CancellationToken);

        using var clara = app.RealClient(token);
        (await clara.PostAsJsonAsync("/api/auth/logout", new { }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        await stream.ToEndAsync(5);
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Hub_StreamsEvents_AndAcknowledgesCommandsWithResultOrProblem()
    {
        var chef = await app.ApiAsync("anna@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(chef))[0];
        var head = await LiveAppFactory.HeadAsync(chef);
        await using var hub = app.Hub(await app.TokenAsync("anna@demo.local"));
        await hub.StartAsync(TestContext.Current.CancellationToken);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var events = hub.StreamAsync<LiveMessage>("Events", head.ToString(), vehicle.Id, false, cancel.Token).GetAsyncEnumerator(cancel.Token);

        var started = await hub.InvokeAsync<CommandAck>("StartTrip", new Trips.StartTripRequest(null, vehicle.Id, null, null, "Depot"), cancel.Token);
        Assert.True(started.Ok, started.Detail);
        Assert.Equal(201, started.Status);
        var tripId = ((JsonElement)started.Result!).GetProperty("id").GetGuid();

        var refused = await hub.InvokeAsync<CommandAck>("RecordOdometer", Guid.NewGuid(), new Vehicles.RecordOdometerRequest(null, 5, null, null), cancel.Token);
        Assert.False(refused.Ok);
        Assert.Equal((404, "vehicle.not-found"), (refused.Status, refused.Code));
        var invalid = await hub.InvokeAsync<CommandAck>("RecordOdometer", vehicle.Id, new Vehicles.RecordOdometerRequest(null, -1, null, null), cancel.Token);
        Assert.Equal((400, "request.invalid"), (invalid.Status, invalid.Code));

        var completed = await hub.InvokeAsync<CommandAck>("CompleteTrip", tripId,
            new Trips.CompleteTripRequest(vehicle.CurrentOdometer + 12, null, Trips.TripCategory.Commute, null, null, null, "Büro"), cancel.Token);
        Assert.True(completed.Ok, completed.Detail);

        var seen = new List<LiveMessage>();
        while (!seen.Exists(m => m.Type == EventTypes.TripCompleted) && await events.MoveNextAsync())
        {
            seen.Add(events.Current);
        }

        Assert.Equal(Enumerable.Range((int)head + 1, seen.Count).Select(p => (long?)p), seen.Select(m => m.Position));
        Assert.Equal(tripId, seen.First(m => m.Type == EventTypes.TripStarted).Data.GetProperty("id").GetGuid());
        await events.DisposeAsync();
    }

    [Fact]
    public async Task ServerStop_HubStreamGetsEverythingCommitted_ThenTheShutdownNotice()
    {
        var first = new LiveAppFactory(AppFactory.NewDataDirectory(), keepData: false, []);
        try
        {
            var chef = await first.ApiAsync("chef@demo.local");
            var vehicles = await LiveAppFactory.VehiclesAsync(chef);
            var from = await LiveAppFactory.HeadAsync(chef);
            await using var hub = first.Hub(await first.TokenAsync("chef@demo.local"));
            await hub.StartAsync(TestContext.Current.CancellationToken);
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var messages = hub.StreamAsync<LiveMessage>("Events", from.ToString(), null, false, cancel.Token).GetAsyncEnumerator(cancel.Token);
            for (var i = 0; i < 10; i++)
            {
                await LiveAppFactory.RecordOdometerAsync(chef, vehicles[i % vehicles.Count].Id, 800_000 + i);
            }

            // The first event is in; the server stops while the rest may still be on their way through the fan-out.
            Assert.True(await messages.MoveNextAsync());
            var received = new List<LiveMessage> { messages.Current };
            var stopping = first.DisposeAsync().AsTask();
            try
            {
                while (received[^1].Type != LiveControl.Shutdown && await messages.MoveNextAsync())
                {
                    received.Add(messages.Current);
                }
            }
            catch (Exception e) when (e is Microsoft.AspNetCore.SignalR.HubException or OperationCanceledException or System.Net.WebSockets.WebSocketException)
            {
                // SignalR closes the connection once the server stops; what matters is what came before.
            }

            await stopping;
            Assert.True(received[^1].Type == LiveControl.Shutdown, string.Join(",", received.Select(m => $"{m.Position}:{m.Type}")));
            Assert.Equal(Enumerable.Range((int)from + 1, 20).Select(p => (long?)p), received.SkipLast(1).Select(m => m.Position));
        }
        finally
        {
            await first.DisposeAsync();
        }
    }

    [Fact]
    public async Task ServerRestart_MidStream_SendsShutdownNotice_AndClientsResumeWithEveryEventExactlyOnce()
    {
        var directory = AppFactory.NewDataDirectory();
        long lastSeen;
        var before = new List<long>();
        var first = new LiveAppFactory(directory, keepData: true, []);
        try
        {
            var chef = await first.ApiAsync("chef@demo.local");
            var vehicles = await LiveAppFactory.VehiclesAsync(chef);
            var from = await LiveAppFactory.HeadAsync(chef);
            var stream = await first.OpenStreamAsync(await first.TokenAsync("chef@demo.local"), from.ToString());
            for (var i = 0; i < 10; i++)
            {
                await LiveAppFactory.RecordOdometerAsync(chef, vehicles[i % vehicles.Count].Id, 900_000 + i);
            }

            await stream.UntilAsync(from + 1);
            await first.DisposeAsync();
            var rest = await stream.ToEndAsync();
            var shutdown = Assert.Single(rest, i => i.EventType == LiveControl.Shutdown);
            Assert.Equal(TimeSpan.FromMilliseconds(1500), shutdown.ReconnectionInterval);
            before.AddRange(rest.Where(i => i.EventId is not null).Select(SseClient.Position));
            lastSeen = long.Parse(stream.LastEventId!);
            Assert.Equal(from + 20, lastSeen);
            await stream.DisposeAsync();
        }
        finally
        {
            await first.DisposeAsync();
        }

        await using var second = new LiveAppFactory(directory, keepData: false, []);
        var api = await second.ApiAsync("chef@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(api))[0];
        await LiveAppFactory.RecordOdometerAsync(api, vehicle.Id, 950_000);
        var head = await LiveAppFactory.HeadAsync(api);
        await using var resumed = await second.OpenStreamAsync(await second.TokenAsync("chef@demo.local"), lastSeen.ToString());
        var positions = (await resumed.UntilAsync(head)).Select(SseClient.Position).ToList();
        Assert.Equal(Enumerable.Range((int)lastSeen + 1, (int)(head - lastSeen)).Select(p => (long)p), positions);
    }
}

/// <summary>A server with tight limits: tiny queues and socket buffers, few connections per user, few hub commands.</summary>
public sealed class TightLimitsFactory() : LiveAppFactory(NewDataDirectory(), keepData: false, new()
{
    ["Live:SubscriberQueueLength"] = "4",
    ["Live:MaxConnectionsPerUser"] = "2",
    ["Live:HubCommandBurst"] = "2",
    ["Live:HubCommandsPerSecond"] = "1",
    ["Live:HubMaxMessageBytes"] = "2048",
}, socketBufferBytes: 4096);

public sealed class LiveLimitTests(TightLimitsFactory app) : IClassFixture<TightLimitsFactory>
{
    [Fact]
    public async Task SlowConsumer_IsDisconnected_WhileOthersKeepReceiving_AndResumesFromTheLog()
    {
        var chef = await app.ApiAsync("chef@demo.local");
        var vehicles = await LiveAppFactory.VehiclesAsync(chef);
        var from = await LiveAppFactory.HeadAsync(chef);
        var connections = app.Services.GetRequiredService<LiveConnections>();

        // The streams of the tests before this one close asynchronously after their clients left; only this test's count below.
        for (var wait = 0; connections.Count > 0 && wait < 100; wait++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, connections.Count);
        using var scraper = app.RealClient();
        var dropsBefore = PrometheusText.Sum(await scraper.GetStringAsync("/metrics", TestContext.Current.CancellationToken), "fahrtenbuch_live_queue_drops_total");
        await using var fast = await app.OpenStreamAsync(await app.TokenAsync("anna@demo.local"), from.ToString());
        await using var slow = await app.OpenStreamAsync(await app.TokenAsync("ben@demo.local"), from.ToString(), receiveBufferBytes: 4096);
        Assert.Equal(2, connections.Count);

        var writes = 0;
        while (connections.Count == 2 && writes < 400)
        {
            await LiveAppFactory.RecordOdometerAsync(chef, vehicles[writes % vehicles.Count].Id, 100_000 + writes);
            writes++;
        }

        Assert.Equal(1, connections.Count);
        await PrometheusText.UntilAsync(scraper, text => PrometheusText.Sum(text, "fahrtenbuch_live_queue_drops_total") >= dropsBefore + 1);
        var head = await LiveAppFactory.HeadAsync(chef);
        var fastPositions = (await fast.UntilAsync(head)).Select(SseClient.Position).ToList();
        Assert.Equal(Enumerable.Range((int)from + 1, (int)(head - from)).Select(p => (long)p), fastPositions);

        slow.StartReading();
        var received = (await slow.ToEndAsync()).Select(SseClient.Position).ToList();
        Assert.True(received.Count < head - from, "the slow client was cut off before the end");
        Assert.Equal(Enumerable.Range((int)from + 1, received.Count).Select(p => (long)p), received);
        await using var resumed = await app.OpenStreamAsync(await app.TokenAsync("ben@demo.local"), received.Count > 0 ? received[^1].ToString() : from.ToString());
        var rest = (await resumed.UntilAsync(head)).Select(SseClient.Position).ToList();
        Assert.Equal(received.Concat(rest), Enumerable.Range((int)from + 1, (int)(head - from)).Select(p => (long)p));
    }

    [Fact]
    public async Task ConnectionsPerUser_AreLimited_With429Problem()
    {
        var token = await app.TokenAsync("pruefer@demo.local");
        await using var one = await app.OpenStreamAsync(token);
        await using var two = await app.OpenStreamAsync(token);
        using var client = app.RealClient(token);
        var third = await client.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        await ProblemAssert.IsProblemAsync(third, HttpStatusCode.TooManyRequests, LiveErrorCodes.TooManyForUser);
    }

    [Fact]
    public async Task ClientThatLeaves_FreesItsConnectionSlot()
    {
        // A user no other test here holds streams for, so only this test's streams count against the limit of two.
        var token = await app.TokenAsync("chef@demo.local");
        await using var kept = await app.OpenStreamAsync(token);
        var left = await app.OpenStreamAsync(token);
        await left.DisposeAsync();

        // The server learns of the closed socket asynchronously; the slot must be free within a few seconds.
        using var client = app.RealClient(token);
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
                break;
            }

            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.TooManyRequests, LiveErrorCodes.TooManyForUser);
            Assert.True(attempt < 50, "The stream whose client left still counts against the user's limit after 5 s.");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task HubCommands_AreRateLimited_AndOversizedMessagesCloseTheConnection()
    {
        var api = await app.ApiAsync("clara@demo.local");
        var vehicle = (await LiveAppFactory.VehiclesAsync(api))[4];
        await using var hub = app.Hub(await app.TokenAsync("clara@demo.local"));
        await hub.StartAsync(TestContext.Current.CancellationToken);
        var acks = new List<CommandAck>();
        for (var i = 0; i < 4; i++)
        {
            acks.Add(await hub.InvokeAsync<CommandAck>("RecordOdometer", vehicle.Id, new Vehicles.RecordOdometerRequest(null, 200_000 + i, null, null), TestContext.Current.CancellationToken));
        }

        Assert.Contains(acks, a => a.Ok);
        Assert.Contains(acks, a => a is { Ok: false, Status: 429, Code: "request.rate-limited" });

        var closed = new TaskCompletionSource<Exception?>();
        hub.Closed += e =>
        {
            closed.TrySetResult(e);
            return Task.CompletedTask;
        };
        var huge = new Vehicles.RecordOdometerRequest(null, 1, null, new string('x', 4000));
        await Assert.ThrowsAnyAsync<Exception>(() => hub.InvokeAsync<CommandAck>("RecordOdometer", vehicle.Id, huge, TestContext.Current.CancellationToken));
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }
}
