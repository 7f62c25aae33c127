//! CNI spec versions: parsing, ordering, the versions this project supports and
//! the `VERSION` command's output.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::CniError;

/// The CNI spec versions our plugins accept, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest spec version we implement (results are held in this version's shape).
pub const CURRENT_VERSION: &str = "1.1.0";

/// A CNI spec version `major.minor.patch` (`1.0` and `1` parse as `1.0.0` and
/// `1.0.0`, as Go's `version.ParseVersion` allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number.
    pub patch: u32,
}

impl Version {
    /// 0.3.0: first version with `interfaces`/`ips`/`routes` results.
    pub const V0_3_0: Version = Version::new(0, 3, 0);
    /// 0.3.1.
    pub const V0_3_1: Version = Version::new(0, 3, 1);
    /// 0.4.0: adds CHECK.
    pub const V0_4_0: Version = Version::new(0, 4, 0);
    /// 1.0.0: drops `ips[].version`.
    pub const V1_0_0: Version = Version::new(1, 0, 0);
    /// 1.1.0: adds GC, STATUS, route `mtu`/`advmss`/`priority`/`table`/`scope`,
    /// interface `mtu`/`socketPath`/`pciID`.
    pub const V1_1_0: Version = Version::new(1, 1, 0);

    /// A version from its numbers.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version { major, minor, patch }
    }

    /// Parses `x.y.z` (or `x.y`, `x`). The error is code 1 (incompatible
    /// version) naming `field` and the text.
    pub fn parse_field(field: &str, text: &str) -> Result<Version, CniError> {
        let bad = |reason: &str| CniError::IncompatibleVersion {
            field: field.to_string(),
            version: text.to_string(),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(bad("missing (an absent cniVersion means 0.1.0, which is not supported)"));
        }
        let mut nums = [0u32; 3];
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() > 3 {
            return Err(bad("not a version of the form major.minor.patch"));
        }
        for (slot, part) in nums.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("not a version of the form major.minor.patch"));
            }
            *slot = part.parse().map_err(|_| bad("version number out of range"))?;
        }
        Ok(Version::new(nums[0], nums[1], nums[2]))
    }

    /// True for the versions whose results carry `ips[].version` (before 1.0.0).
    pub fn has_ip_version_field(self) -> bool {
        self < Version::V1_0_0
    }

    /// True when the version knows the 1.1.0 result fields.
    pub fn has_1_1_fields(self) -> bool {
        self >= Version::V1_1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = CniError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse_field("cniVersion", s)
    }
}

/// Parses `text` (the value of `field`) and checks it is one of `supported`.
/// Unparsable and unsupported versions are code 1 and the error lists the
/// supported versions.
pub fn check_supported(field: &str, text: &str, supported: &[&str]) -> Result<Version, CniError> {
    let v = Version::parse_field(field, text)?;
    if supported.iter().any(|s| Version::parse_field(field, s).is_ok_and(|sv| sv == v)) {
        Ok(v)
    } else {
        Err(CniError::IncompatibleVersion {
            field: field.to_string(),
            version: text.to_string(),
            reason: format!("the plugin supports [{}]", supported.join(", ")),
        })
    }
}

/// The highest version among `candidates` that is also in `supported` (what a
/// runtime picks from a conflist's `cniVersion` and `cniVersions`). Unparsable
/// candidates are skipped.
pub fn highest_common<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    supported: &[&str],
) -> Option<Version> {
    candidates
        .into_iter()
        .filter_map(|c| check_supported("cniVersion", c, supported).ok())
        .max_by(Ord::cmp)
}

/// Compares two version strings; `None` when either does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let a = Version::parse_field("cniVersion", a).ok()?;
    let b = Version::parse_field("cniVersion", b).ok()?;
    Some(a.cmp(&b))
}

/// The output of the `VERSION` command: `{"cniVersion", "supportedVersions"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The spec version of this output (the newest we implement).
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// Every version the plugin accepts.
    #[serde(rename = "supportedVersions")]
    pub supported_versions: Vec<String>,
}

impl VersionInfo {
    /// The VERSION answer for a plugin supporting `supported`.
    pub fn new(supported: &[&str]) -> Self {
        VersionInfo {
            cni_version: CURRENT_VERSION.to_string(),
            supported_versions: supported.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let v: Vec<Version> = SUPPORTED_VERSIONS.iter().map(|s| s.parse().unwrap()).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        assert_eq!("1.0".parse::<Version>().unwrap(), Version::V1_0_0);
        assert_eq!(Version::V0_3_1.to_string(), "0.3.1");
        assert_eq!(compare("0.4.0", "1.0.0"), Some(Ordering::Less));
        assert_eq!(compare("0.10.0", "0.4.0"), Some(Ordering::Greater));
        assert_eq!(compare("x", "1.0.0"), None);
    }

    #[test]
    fn bad_versions_are_code_1_and_name_the_value() {
        for bad in ["", "1.0.0.0", "a.b.c", "1..0", "-1.0.0", "99999999999.0.0"] {
            let e = Version::parse_field("cniVersion", bad).unwrap_err();
            assert_eq!(e.code().as_u32(), 1, "{bad}");
            assert!(e.to_string().contains("cniVersion"), "{e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn supported_check_lists_the_supported_versions() {
        assert_eq!(
            check_supported("cniVersion", "0.4.0", &SUPPORTED_VERSIONS).unwrap(),
            Version::V0_4_0
        );
        let e = check_supported("cniVersion", "0.2.0", &SUPPORTED_VERSIONS).unwrap_err();
        assert_eq!(e.code().as_u32(), 1);
        assert!(e.to_string().contains("0.2.0"), "{e}");
        assert!(e.to_string().contains("1.1.0"), "{e}");
        let e = check_supported("cniVersion", "1.2.0", &SUPPORTED_VERSIONS).unwrap_err();
        assert!(e.to_string().contains("1.2.0"), "{e}");
    }

    #[test]
    fn highest_common_picks_the_newest_supported() {
        assert_eq!(
            highest_common(["0.4.0", "1.0.0", "2.0.0"], &SUPPORTED_VERSIONS),
            Some(Version::V1_0_0)
        );
        assert_eq!(highest_common(["0.4.0"], &["0.3.1"]), None);
        assert_eq!(highest_common(["junk", "0.3.1"], &SUPPORTED_VERSIONS), Some(Version::V0_3_1));
    }

    #[test]
    fn version_info_json() {
        let j = serde_json::to_value(VersionInfo::new(&SUPPORTED_VERSIONS)).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]})
        );
    }
}
