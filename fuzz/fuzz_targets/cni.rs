//! The CNI protocol parsers (`spiderpool_core::cni`): network configs,
//! conflists, results of every version and `CNI_ARGS`.
//!
//! Properties: nothing panics; a result read in one version and written in the
//! current one reads back equal; every error maps to an error reply with a code.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz cni fuzz/seeds/cni

#![no_main]

use spiderpool_core::cni::{CniArgs, ConfList, ErrorReply, NetConf, Result as CniResult, Version};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let conf = NetConf::from_slice(data);
    if let Ok(conf) = &conf {
        let _ = conf.version(&spiderpool_core::cni::SUPPORTED_VERSIONS);
        if let Err(e) = conf.prev_result() {
            let _ = ErrorReply::from_error(&e, "1.1.0");
        }
    }
    if let Err(e) = &conf {
        let reply = ErrorReply::from_error(e, "1.1.0");
        assert!(!reply.msg.is_empty(), "error reply without a message");
    }
    let _ = ConfList::from_slice(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = CniArgs::parse(text);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        for v in [Version::V0_3_0, Version::V0_3_1, Version::V0_4_0, Version::V1_0_0, Version::V1_1_0] {
            if let Ok(r) = CniResult::from_json(&value, v, "fuzz") {
                let out = r.to_json(Version::V1_1_0);
                let back = CniResult::from_json(&out, Version::V1_1_0, "round trip")
                    .unwrap_or_else(|e| panic!("written result does not read back: {e}: {out}"));
                assert_eq!(back, r, "result changed through 1.1.0 JSON");
            }
        }
    }
});
