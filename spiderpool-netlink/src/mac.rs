//! MAC address text <-> bytes.

use crate::error::{Error, Result};

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`) into 6 bytes. `field` names the
/// plan field for the error.
pub fn parse_mac(field: &'static str, text: &str) -> Result<[u8; 6]> {
    let bad = |reason| Error::Invalid { field, value: text.to_string(), reason };
    let mut out = [0u8; 6];
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad("want 6 hex bytes separated by ':'"));
    }
    for (slot, part) in out.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return Err(bad("each byte is 2 hex digits"));
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| bad("not hexadecimal"))?;
    }
    Ok(out)
}

/// Formats bytes as lower-case `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let m = parse_mac("address", "0A:1b:0a:06:01:02").unwrap();
        assert_eq!(m, [0x0a, 0x1b, 0x0a, 0x06, 0x01, 0x02]);
        assert_eq!(format_mac(&m), "0a:1b:0a:06:01:02");
        assert_eq!(parse_mac("x", "0a-1b-0a-06-01-02").unwrap(), m);
        let e = parse_mac("address", "0a:1b").unwrap_err().to_string();
        assert!(e.contains("address") && e.contains("0a:1b"), "{e}");
        assert!(parse_mac("address", "0a:1b:0a:06:01:zz").is_err());
        assert!(parse_mac("address", "0a:1b:0a:06:01:002").is_err());
    }
}
