// Time: timestamps as Go's time.Time marshals them (RFC 3339 with nanoseconds, trailing zeros trimmed, "Z" for
// UTC), e.g. "2023-08-04T19:22:45.499127Z" — Ollama's `created_at`, `modified_at`, `expires_at`.
import Foundation

public enum Timestamp {
    /// RFC 3339 "nano" form of a wall-clock instant (seconds since 1970 + nanoseconds).
    public static func rfc3339(seconds: Int, nanoseconds: Int) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        var s = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                       Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        if nanoseconds > 0 {
            var frac = String(format: "%09d", nanoseconds)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s + "Z"
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
