//! Durations on the command line: `15s`, `2m`, `1h`, `365d`, or a number of
//! seconds.

use std::time::Duration;

/// Parses `N`, `Ns`, `Nm`, `Nh` or `Nd` (N a whole number).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a whole number with s, m, h or d (e.g. 15s)"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        other => return Err(format!("{text:?}: unknown unit {other:?} (use s, m, h or d)")),
    };
    n.checked_mul(factor).map(Duration::from_secs).ok_or_else(|| format!("{text:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_errors() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("365d"), Ok(Duration::from_secs(365 * 86400)));
        assert!(parse_duration("1.5s").unwrap_err().contains("unknown unit \".5s\""));
        assert!(parse_duration("s").unwrap_err().contains("whole number"));
        assert!(parse_duration("10w").unwrap_err().contains("unknown unit"));
    }
}
