using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Fahrtenbuch.Client;

/// <summary>Where a client keeps its tokens between runs (memory by default; the CLI uses a file).</summary>
public interface ITokenStore
{
    TokenSet? Load();

    void Save(TokenSet? tokens);
}

public sealed class MemoryTokenStore : ITokenStore
{
    private TokenSet? _tokens;

    public TokenSet? Load() => _tokens;

    public void Save(TokenSet? tokens) => _tokens = tokens;
}

/// <summary>
/// Typed client of the Fahrtenbuch REST API. Sends the bearer token, refreshes it shortly before it
/// expires or when the server says it has, one refresh at a time (a refresh token works only once).
/// </summary>
public sealed class FahrtenbuchClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly ITokenStore _tokens;
    private readonly SemaphoreSlim _refreshing = new(1, 1);

    public FahrtenbuchClient(Uri server, ITokenStore? tokens = null, HttpMessageHandler? handler = null)
    {
        Server = server;
        _tokens = tokens ?? new MemoryTokenStore();
        _http = new HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }, disposeHandler: true)
        {
            BaseAddress = server,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Uri Server { get; }

    /// <summary>How long an ordinary request may take before it counts as failed (not the live stream).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(100);

    public bool IsSignedIn => _tokens.Load() is not null;

    public async Task<TokenSet> LoginAsync(string email, string password, CancellationToken cancellationToken = default)
    {
        using var response = await SendCoreAsync(() => Json(HttpMethod.Post, "/api/auth/login", new { email, password }), authenticate: false, cancellationToken);
        var tokens = await ReadAsync<TokenSet>(response, cancellationToken);
        _tokens.Save(tokens);
        return tokens;
    }

    public void Logout() => _tokens.Save(null);

    public Task<MeInfo> MeAsync(CancellationToken cancellationToken = default) => GetAsync<MeInfo>("/api/me", cancellationToken);

    public Task<List<VehicleInfo>> VehiclesAsync(CancellationToken cancellationToken = default) => GetAsync<List<VehicleInfo>>("/api/vehicles", cancellationToken);

    public Task<TripInfo> TripAsync(Guid id, CancellationToken cancellationToken = default) => GetAsync<TripInfo>($"/api/trips/{id}", cancellationToken);

    public Task<TripPage> TripsAsync(Guid? driverId = null, Guid? vehicleId = null, int page = 1, int pageSize = 100, CancellationToken cancellationToken = default)
    {
        var query = $"/api/trips?page={page}&pageSize={pageSize}";
        query += driverId is { } d ? $"&driverId={d}" : "";
        query += vehicleId is { } v ? $"&vehicleId={v}" : "";
        return GetAsync<TripPage>(query, cancellationToken);
    }

    /// <summary>All trips the caller may list (drivers: their own), every page.</summary>
    public async Task<List<TripInfo>> AllTripsAsync(Guid? driverId = null, CancellationToken cancellationToken = default)
    {
        var all = new List<TripInfo>();
        for (var page = 1; ; page++)
        {
            var batch = await TripsAsync(driverId, null, page, 500, cancellationToken);
            all.AddRange(batch.Items);
            if (all.Count >= batch.Total || batch.Items.Count == 0)
            {
                return all;
            }
        }
    }

    /// <summary>Starts a trip online (idempotent by <paramref name="tripId"/>).</summary>
    public Task<TripInfo> StartTripAsync(Guid tripId, Guid vehicleId, int? startOdometer = null, string? startPlace = null, CancellationToken cancellationToken = default) =>
        PostAsync<TripInfo>("/api/trips", new { id = tripId, vehicleId, startOdometer, startPlace }, cancellationToken);

    public Task<TripInfo> CompleteTripAsync(Guid tripId, TripCompletion completion, CancellationToken cancellationToken = default) =>
        PostAsync<TripInfo>($"/api/trips/{tripId}/complete", completion, cancellationToken);

    public Task<TripInfo> CancelTripAsync(Guid tripId, string reason, CancellationToken cancellationToken = default) =>
        PostAsync<TripInfo>($"/api/trips/{tripId}/cancel", new { reason }, cancellationToken);

    public Task<SyncResponse> SyncAsync(Guid deviceId, IReadOnlyList<SyncOperation> operations, CancellationToken cancellationToken = default) =>
        PostAsync<SyncResponse>("/api/sync", new { deviceId, operations }, cancellationToken);

    public Task<ReviewQueue> ReviewAsync(CancellationToken cancellationToken = default) => GetAsync<ReviewQueue>("/api/review", cancellationToken);

    public Task<TripInfo> AcceptReviewAsync(Guid tripId, string? note = null, CancellationToken cancellationToken = default) =>
        PostAsync<TripInfo>($"/api/review/trips/{tripId}/accept", new { note }, cancellationToken);

    /// <summary>Accepts a flagged odometer reading as it was recorded (fleet manager; not one's own reading).</summary>
    public Task<ReviewReading> AcceptReadingAsync(Guid readingId, string? note = null, CancellationToken cancellationToken = default) =>
        PostAsync<ReviewReading>($"/api/review/readings/{readingId}/accept", new { note }, cancellationToken);

    public Task<TripInfo> VoidReviewAsync(Guid tripId, string reason, CancellationToken cancellationToken = default) =>
        PostAsync<TripInfo>($"/api/review/trips/{tripId}/void", new { reason }, cancellationToken);

    /// <summary>Invites a user (fleet manager only) and returns the one-time invitation code.</summary>
    public async Task<(Guid UserId, string Code)> InviteAsync(string email, string displayName, string role = "driver", CancellationToken cancellationToken = default)
    {
        var invitation = await PostAsync<JsonElement>("/api/users", new { email, displayName, role }, cancellationToken);
        return (invitation.GetProperty("user").GetProperty("id").GetGuid(), invitation.GetProperty("invitationCode").GetString()!);
    }

    /// <summary>Accepts an invitation with a new password and signs in as that user.</summary>
    public async Task<TokenSet> AcceptInvitationAsync(string email, string code, string password, CancellationToken cancellationToken = default)
    {
        using var response = await SendCoreAsync(() => Json(HttpMethod.Post, "/api/auth/accept-invitation", new { email, code, password }), authenticate: false, cancellationToken);
        var tokens = await ReadAsync<TokenSet>(response, cancellationToken);
        _tokens.Save(tokens);
        return tokens;
    }

    public Task<VehicleInfo> CreateVehicleAsync(string plate, string name, int initialOdometer, CancellationToken cancellationToken = default) =>
        PostAsync<VehicleInfo>("/api/vehicles", new { plate, name, initialOdometer }, cancellationToken);

    /// <summary>The live snapshot: current state together with the log position it reflects.</summary>
    public Task<JsonElement> SnapshotAsync(CancellationToken cancellationToken = default) => GetAsync<JsonElement>("/api/live/snapshot", cancellationToken);

    /// <summary>Has the server recompute a vehicle's hash-chained journal and report the first broken link, if any.</summary>
    public Task<JsonElement> VerifyJournalAsync(Guid vehicleId, CancellationToken cancellationToken = default) =>
        GetAsync<JsonElement>($"/api/vehicles/{vehicleId}/journal/verify", cancellationToken);

    /// <summary>Opens the live event stream (response headers read, body streaming).</summary>
    internal Task<HttpResponseMessage> OpenStreamAsync(string? lastEventId, CancellationToken cancellationToken) =>
        SendCoreAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                if (lastEventId is not null)
                {
                    request.Headers.Add("Last-Event-ID", lastEventId);
                }

                return request;
            },
            authenticate: true,
            cancellationToken,
            streaming: true);

    public void Dispose()
    {
        _http.Dispose();
        _refreshing.Dispose();
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await SendCoreAsync(() => new HttpRequestMessage(HttpMethod.Get, path), authenticate: true, cancellationToken);
        return await ReadAsync<T>(response, cancellationToken);
    }

    private async Task<T> PostAsync<T>(string path, object body, CancellationToken cancellationToken)
    {
        using var response = await SendCoreAsync(() => Json(HttpMethod.Post, path, body), authenticate: true, cancellationToken);
        return await ReadAsync<T>(response, cancellationToken);
    }

    private static HttpRequestMessage Json(HttpMethod method, string path, object body) =>
        new(method, path) { Content = JsonContent.Create(body, body.GetType(), options: ClientJson.Options) };

    private async Task<HttpResponseMessage> SendCoreAsync(Func<HttpRequestMessage> create, bool authenticate, CancellationToken cancellationToken, bool streaming = false)
    {
        for (var attempt = 0; ; attempt++)
        {
            var tokens = authenticate ? await FreshTokensAsync(cancellationToken) : null;
            using var request = create();
            if (tokens is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken);
            }

            HttpResponseMessage response;
            if (streaming)
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            }
            else
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(RequestTimeout);
                try
                {
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new HttpRequestException($"The server did not answer within {RequestTimeout.TotalSeconds:F0} s.");
                }
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && tokens is not null && attempt == 0)
            {
                response.Dispose();
                await RefreshAsync(tokens, cancellationToken);
                continue;
            }

            if (!response.IsSuccessStatusCode)
            {
                using (response)
                {
                    throw await ProblemAsync(response, cancellationToken);
                }
            }

            return response;
        }
    }

    private async Task<TokenSet> FreshTokensAsync(CancellationToken cancellationToken)
    {
        var tokens = _tokens.Load() ?? throw new FahrtenbuchApiException(401, "auth.unauthenticated", "Not signed in; log in first.");
        if (tokens.ExpiresAt - DateTimeOffset.UtcNow > TimeSpan.FromSeconds(30))
        {
            return tokens;
        }

        await RefreshAsync(tokens, cancellationToken);
        return _tokens.Load()!;
    }

    private async Task RefreshAsync(TokenSet stale, CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken);
        try
        {
            // Another caller may have refreshed while this one waited; a refresh token presented twice ends the session.
            var current = _tokens.Load();
            if (current is null || current.AccessToken != stale.AccessToken)
            {
                return;
            }

            using var response = await SendCoreAsync(() => Json(HttpMethod.Post, "/api/auth/refresh", new { refreshToken = current.RefreshToken }), authenticate: false, cancellationToken);
            _tokens.Save(await ReadAsync<TokenSet>(response, cancellationToken));
        }
        finally
        {
            _refreshing.Release();
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken) =>
        await response.Content.ReadFromJsonAsync<T>(ClientJson.Options, cancellationToken)
        ?? throw new HttpRequestException("The server sent an empty answer.");

    private static async Task<FahrtenbuchApiException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(ClientJson.Options, cancellationToken);
            var code = problem.TryGetProperty("code", out var c) ? c.GetString() : null;
            var detail = problem.TryGetProperty("detail", out var d) ? d.GetString() : null;
            return new FahrtenbuchApiException(status, code ?? $"http.{status}", detail ?? response.ReasonPhrase ?? "Request failed.");
        }
        catch (JsonException)
        {
            return new FahrtenbuchApiException(status, $"http.{status}", response.ReasonPhrase ?? "Request failed.");
        }
    }
}
