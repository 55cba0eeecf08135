-- wrk reporter: one machine-readable line with totals and latency percentiles (µs).
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d errors=%d p50=%d p99=%d p999=%d\n",
        summary.requests, summary.duration,
        e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
