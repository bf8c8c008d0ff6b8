// Time: timestamps as Go's time.Time marshals them (RFC 3339 with nanoseconds, trailing zeros trimmed, "Z" for
// UTC), e.g. "2023-08-04T19:22:45.499127Z" — Ollama's `created_at`, `modified_at`, `expires_at`.
import Foundation

public enum Timestamp {
    /// RFC 3339 "nano" form of a wall-clock instant (seconds since 1970 + nanoseconds).
    public static func rfc3339(seconds: Int, nanoseconds: Int) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        // Digits by hand: String(format:) (CoreFoundation on Linux) was a visible part of a streamed token's cost.
        var s = pad(Int(tm.tm_year) + 1900, 4) + "-" + pad(Int(tm.tm_mon) + 1, 2) + "-" + pad(Int(tm.tm_mday), 2) + "T"
            + pad(Int(tm.tm_hour), 2) + ":" + pad(Int(tm.tm_min), 2) + ":" + pad(Int(tm.tm_sec), 2)
        if nanoseconds > 0 {
            var frac = pad(nanoseconds, 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s + "Z"
    }

    /// `v` in decimal, zero-padded on the left to `width` digits (printf's %0*d for v ≥ 0).
    private static func pad(_ v: Int, _ width: Int) -> String {
        let d = String(v)
        return d.count >= width ? d : String(repeating: "0", count: width - d.count) + d
    }

    /// Now, in UTC.
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return rfc3339(seconds: Int(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    public static func string(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        let s = t.rounded(.down)
        return rfc3339(seconds: Int(s), nanoseconds: min(999_999_999, Int(((t - s) * 1e9).rounded())))
    }
}
