using System.Buffers;
using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Fahrtenbuch.Server.Infrastructure;

namespace Fahrtenbuch.Server.Live;

/// <summary>
/// One SSE stream, fed straight from the publisher. While the stream is caught up and its socket takes what it is
/// given, the publishing thread writes each event's shared frame into the response pipe and flushes it: no queue, no
/// task woken per event and subscriber (the dedicated broadcast servers fan out the same way). Whenever the stream is
/// behind — replaying from the log, filling a gap, waiting for a flush the socket did not take at once, writing a
/// heartbeat or a control notice — the stream's own task holds the pen, and the publisher queues events for it (up to
/// <see cref="LiveOptions.SubscriberQueueLength"/>; a live stream whose queue overflows is cut and resumes from the log).
/// Every event is checked against the last position handled, so replay, queue and live writes never leave a gap or a
/// duplicate, whichever order the transport delivers in. See docs/adr/0002-live-fan-out.md.
/// </summary>
internal sealed class SseSubscriber
{
    /// <summary>
    /// A long replay is sent in pieces of about this size rather than buffered whole. Small pieces keep few of Kestrel's
    /// pooled 4 KiB blocks per stream in flight: with 64 KiB a reconnect storm of 1,000 streams made the pool allocate
    /// new pinned blocks and the GC collect them (server CPU per resume 0.56 ms against 0.47 ms, docs/benchmarks.md).
    /// </summary>
    private const int MaxUnflushedBytes = 16 * 1024;

    private readonly Lock _gate = new();
    private readonly Queue<LiveEvent> _queue = new();
    private readonly PipeWriter _body;
    private readonly LiveViewer _viewer;
    private readonly LiveFilter _filter;
    private readonly LiveOptions _options;
    private readonly TimeProvider _time;
    private readonly Action _slowConsumer;
    private readonly KeyValuePair<string, object?> _transportTag = Telemetry.TransportTag(LiveTransports.Sse);

    // Guarded by _gate. While Live, only the publisher writes to _body (under the lock); otherwise only the stream's task.
    private Pen _pen = Pen.Task;
    private bool _wasLive;
    private long _sent;
    private long _lastWrite;
    private ValueTask<FlushResult>? _publisherFlush;
    private TaskCompletionSource? _wake;

    // slowConsumer ends the connection of a client too slow to keep up. It is called at most once, on the publisher's
    // thread under the stream's lock, and never once RunAsync has returned (the stream is closed by then).
    public SseSubscriber(PipeWriter body, LiveViewer viewer, LiveFilter filter, LiveOptions options, TimeProvider time, Action slowConsumer)
    {
        (_body, _viewer, _filter, _options, _time, _slowConsumer) = (body, viewer, filter, options, time, slowConsumer);
        _lastWrite = time.GetTimestamp();
    }

    private enum Pen
    {
        /// <summary>Caught up: the publisher writes events as they come.</summary>
        Publisher,

        /// <summary>The stream's task writes; the publisher queues.</summary>
        Task,

        /// <summary>The stream has ended: nobody writes to the response any more.</summary>
        Closed,
    }

    /// <summary>
    /// The transport's callback with the events of one commit: runs on the publisher's thread and never blocks. While this
    /// stream is caught up they are written and flushed at once, as one socket write.
    /// </summary>
    public void OnEvents(IReadOnlyList<LiveEvent> events)
    {
        lock (_gate)
        {
            var written = false;
            foreach (var e in events)
            {
                if (_pen == Pen.Closed || (_pen == Pen.Publisher && e.Position <= _sent))
                {
                    continue;
                }

                if (_pen == Pen.Publisher && e.Position == _sent + 1 && !LiveFeed.EndsStream(e, _viewer))
                {
                    _sent = e.Position;
                    if (_filter.Matches(e, _viewer))
                    {
                        Write(e, replayed: false);
                        written = true;
                    }

                    continue;
                }

                if (_pen == Pen.Publisher && written)
                {
                    // Hand what this commit wrote so far to the socket before the task takes over.
                    FlushLive();
                    written = false;
                }

                Queue(e);
            }

            if (written)
            {
                FlushLive();
            }
        }
    }

    /// <summary>Queues an event for the task (under the lock); a live stream whose queue is full is cut off.</summary>
    private void Queue(LiveEvent e)
    {
        if (_queue.Count >= _options.SubscriberQueueLength)
        {
            if (_wasLive)
            {
                // Too slow to keep up: cut it off; the client resumes from the log with its last id.
                _pen = Pen.Closed;
                Telemetry.LiveQueueDrops.Add(1);
                _slowConsumer();
                Wake();
                return;
            }

            // Still replaying: everything dropped here is in the log, and the position check fills the gap from there.
            _queue.Clear();
        }

        _queue.Enqueue(e);
        _pen = Pen.Task;
        Wake();
    }

    /// <summary>Runs the stream until the client leaves, the session ends, the server stops or the viewer is disabled.</summary>
    public async Task RunAsync(LiveFeed feed, LiveEventStore store, SseHeartbeats heartbeats, string? lastEventId, CancellationToken stop, CancellationToken stopping)
    {
        using var onStop = stop.UnsafeRegister(WakeFromCallback, this);
        using var onStopping = stopping.UnsafeRegister(WakeFromCallback, this);
        using var beating = heartbeats.Add(this);
        try
        {
            _body.Write<byte>(SseFrames.Prelude(_options.RetryMilliseconds));
            var start = await feed.StartAsync(_viewer, lastEventId, stop);
            _sent = start.After;
            if (start.Reset)
            {
                WriteReset();
            }

            if (!await ReplayAsync(store, start.Head, stop) || !await CatchUpAsync(store, stop))
            {
                return;
            }

            while (await WaitAsync(stop, stopping))
            {
                if (stopping.IsCancellationRequested)
                {
                    // What was committed before the server began to stop goes out before the notice: the fan-out loop
                    // may still hold the last commits, the log has them.
                    List<LiveEvent> committed;
                    while ((committed = await store.ReadAsync(_viewer.CompanyId, _sent, null, _options.ReplayBatchSize, stop)).Count > 0)
                    {
                        if (!await WriteFromLogAsync(committed, head: 0, stop))
                        {
                            return;
                        }
                    }

                    WriteControl(LiveControl.Shutdown, new ShutdownNotice("server-stopping", _options.ShutdownRetryMilliseconds), null, _options.ShutdownRetryMilliseconds);
                    await FlushAsync(stop);
                    return;
                }

                if (!await CatchUpAsync(store, stop))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client left (Kestrel reports an aborted connection this way too), or the session ended: the stream just ends.
        }
        catch (IOException)
        {
            // The connection broke while writing; the client resumes with its last id.
        }
        finally
        {
            await CloseAsync();
        }
    }

    /// <summary>Replays the log from the start position until it reaches the head seen at subscription.</summary>
    private async Task<bool> ReplayAsync(LiveEventStore store, long head, CancellationToken stop)
    {
        while (true)
        {
            var batch = await store.ReadAsync(_viewer.CompanyId, _sent, null, _options.ReplayBatchSize, stop);
            if (!await WriteFromLogAsync(batch, head, stop))
            {
                return false;
            }

            // A short batch ends the replay once the head seen at subscription is reached (a batch from memory can end
            // before it while the last commit is still being published); an empty read means the log has nothing more.
            if (batch.Count == 0 || (batch.Count < _options.ReplayBatchSize && _sent >= head))
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Writes what the publisher queued while this task held the pen (filling gaps from the log), waits for any flush the
    /// publisher left pending, and hands the pen back once nothing is left. False when the stream must end.
    /// </summary>
    private async Task<bool> CatchUpAsync(LiveEventStore store, CancellationToken stop)
    {
        var flushed = false;
        while (true)
        {
            LiveEvent[] queued;
            ValueTask<FlushResult>? publisherFlush;
            lock (_gate)
            {
                if (_pen == Pen.Closed)
                {
                    return false;
                }

                if (_queue.Count == 0 && _publisherFlush is null && flushed)
                {
                    _pen = Pen.Publisher;
                    _wasLive = true;
                    return true;
                }

                queued = _queue.Count == 0 ? [] : [.. _queue];
                _queue.Clear();
                (publisherFlush, _publisherFlush) = (_publisherFlush, null);
            }

            if (publisherFlush is { } pending && (await pending) is { IsCanceled: true } or { IsCompleted: true })
            {
                return false;
            }

            foreach (var e in queued)
            {
                if (e.Position <= _sent)
                {
                    continue;
                }

                if (e.Position > _sent + 1 && !await FillGapAsync(store, e.Position, stop))
                {
                    return false;
                }

                if (!WriteFromQueue(e))
                {
                    await FlushAsync(stop);
                    return false;
                }
            }

            if (!await FlushAsync(stop))
            {
                return false;
            }

            flushed = true;
        }
    }

    /// <summary>Reads what the transport skipped before <paramref name="before"/> from the log (a reset if it was pruned).</summary>
    private async Task<bool> FillGapAsync(LiveEventStore store, long before, CancellationToken stop)
    {
        while (_sent + 1 < before)
        {
            var missing = await store.ReadAsync(_viewer.CompanyId, _sent, before, _options.ReplayBatchSize, stop);
            if (missing.Count == 0 || missing[0].Position != _sent + 1)
            {
                _sent = before - 1;
                WriteReset();
                return true;
            }

            if (!await WriteFromLogAsync(missing, head: 0, stop))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes events read from the log in order; those up to <paramref name="head"/> count as replayed. False when the stream must end.</summary>
    private async Task<bool> WriteFromLogAsync(List<LiveEvent> events, long head, CancellationToken stop)
    {
        if (events.Count > 0 && events[0].Position != _sent + 1)
        {
            // Pruned while the client was away: it cannot get a complete history any more.
            _sent = events[0].Position - 1;
            WriteReset();
        }

        var unflushed = 0;
        var replayed = 0;
        try
        {
            foreach (var e in events)
            {
                _sent = e.Position;
                if (LiveFeed.EndsStream(e, _viewer))
                {
                    await FlushAsync(stop);
                    return false;
                }

                if (_filter.Matches(e, _viewer))
                {
                    var isReplay = e.Position <= head;
                    replayed += isReplay ? 1 : 0;
                    unflushed += Write(e, isReplay);
                    if (unflushed >= MaxUnflushedBytes)
                    {
                        if (!await FlushAsync(stop))
                        {
                            return false;
                        }

                        unflushed = 0;
                    }
                }
            }

            return true;
        }
        finally
        {
            // Counted once per batch: a storm of resumes replays a hundred events each (docs/benchmarks.md).
            Telemetry.RecordReplayed(replayed, _transportTag);
        }
    }

    private bool WriteFromQueue(LiveEvent e)
    {
        _sent = e.Position;
        if (LiveFeed.EndsStream(e, _viewer))
        {
            return false;
        }

        if (_filter.Matches(e, _viewer))
        {
            Write(e, replayed: false);
        }

        return true;
    }

    /// <summary>The publisher's flush (under the lock): it usually completes at once; if not, the task takes over.</summary>
    private void FlushLive()
    {
        var flush = _body.FlushAsync();
        if (flush.IsCompletedSuccessfully && flush.Result is { IsCanceled: false, IsCompleted: false })
        {
            return;
        }

        // The socket is full (or gone): the task waits for this flush, and events queue meanwhile.
        _publisherFlush = flush;
        _pen = Pen.Task;
        Wake();
    }

    private int Write(LiveEvent e, bool replayed)
    {
        var frame = e.SeesFull(_viewer) ? e.FullFrame : e.RestrictedFrame;
        _body.Write(frame.Span);
        _lastWrite = _time.GetTimestamp();
        if (!replayed)
        {
            // Replayed events are counted by the caller, per batch.
            Telemetry.RecordDelivered(e.OccurredAt, replayed: false, _time, _transportTag);
        }

        return frame.Length;
    }

    /// <summary>The position cannot be served (pruned, unknown): the client reloads its snapshot and continues from <c>_sent</c>.</summary>
    private void WriteReset() =>
        WriteControl(LiveControl.Reset, new ResetNotice("position-unavailable", _sent), _sent, _options.RetryMilliseconds);

    private void WriteControl(string type, object payload, long? position, int retryMilliseconds)
    {
        _body.Write<byte>(SseFrames.Encode(new SseItem<string>(JsonSerializer.Serialize(payload, payload.GetType(), ApiJson.Options), type)
        {
            EventId = position?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ReconnectionInterval = TimeSpan.FromMilliseconds(retryMilliseconds),
        }));
        _lastWrite = _time.GetTimestamp();
    }

    private async Task<bool> FlushAsync(CancellationToken stop)
    {
        var result = await _body.FlushAsync(stop);
        return !result.IsCanceled && !result.IsCompleted;
    }

    /// <summary>
    /// Sleeps while the publisher holds the pen, until it hands it back or the stream must stop.
    /// True when the task holds the pen again; false when the stream has ended.
    /// </summary>
    private async Task<bool> WaitAsync(CancellationToken stop, CancellationToken stopping)
    {
        while (true)
        {
            Task wake;
            lock (_gate)
            {
                if (_pen != Pen.Publisher)
                {
                    return _pen == Pen.Task;
                }

                if (stopping.IsCancellationRequested)
                {
                    _pen = Pen.Task;
                    return true;
                }

                _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wake = _wake.Task;
            }

            await wake;
            stop.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Called by <see cref="SseHeartbeats"/>: a caught-up stream that has been quiet for a heartbeat interval gets a comment
    /// line, written like an event. A stream whose task holds the pen is busy writing anyway.
    /// </summary>
    public void BeatIfQuiet()
    {
        lock (_gate)
        {
            if (_pen == Pen.Publisher && _time.GetElapsedTime(_lastWrite) >= _options.Heartbeat)
            {
                _body.Write<byte>(SseFrames.Heartbeat);
                _lastWrite = _time.GetTimestamp();
                FlushLive();
            }
        }
    }

    private static void WakeFromCallback(object? state)
    {
        var self = (SseSubscriber)state!;
        lock (self._gate)
        {
            self.Wake();
        }
    }

    private void Wake()
    {
        _wake?.TrySetResult();
        _wake = null;
    }

    /// <summary>Takes the pen for good, then waits for a flush the publisher left, so the response is idle when it completes.</summary>
    private async Task CloseAsync()
    {
        ValueTask<FlushResult>? pending;
        lock (_gate)
        {
            _pen = Pen.Closed;
            (pending, _publisherFlush) = (_publisherFlush, null);
            _queue.Clear();
        }

        if (pending is { } flush)
        {
            _body.CancelPendingFlush();
            try
            {
                await flush;
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
            }
        }
    }
}
