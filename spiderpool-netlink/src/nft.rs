//! nftables packet marks for the reply-via-veth path, spoken directly over
//! `NETLINK_NETFILTER` (no `nft` binary, no libnftnl).
//!
//! A [`MarkOp`](spiderpool_core::coordinator::MarkOp) `{ iif: veth0, fwmark: 0x1 }`
//! becomes, in the namespace of the calling thread:
//!
//! ```text
//! table inet spiderpool {
//!   chain prerouting { type filter hook prerouting priority mangle; policy accept;
//!     iifname "veth0" ct state new meta mark set 0x1
//!     meta mark 0x1 ct mark set meta mark
//!   }
//!   chain output { type route hook output priority mangle; policy accept;
//!     meta mark set ct mark
//!   }
//! }
//! ```
//!
//! the equivalent of Spiderpool's mangle `MARK` / `CONNMARK --save-mark` /
//! `CONNMARK --restore-mark` rules. The table is re-created atomically in one
//! batch (add, delete, add), so re-applying is not an error and leaves exactly
//! one copy; it holds the rules of the most recent `MarkOp` only.

use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};

use crate::error::{Error, Result};

/// The nftables table the marks live in (family `inet`).
pub const TABLE: &str = "spiderpool";

const NETLINK_NETFILTER: isize = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFPROTO_INET: u8 = 1;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
// meta
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_META_SREG: u16 = 3;
const NFT_META_MARK: u32 = 3;
const NFT_META_IIFNAME: u32 = 6;
// cmp
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
// ct
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFTA_CT_SREG: u16 = 4;
const NFT_CT_STATE: u32 = 0;
const NFT_CT_MARK: u32 = 3;
const CT_STATE_NEW: u32 = 1 << 3;
// bitwise
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
// immediate
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

const NFT_REG_1: u32 = 1;
const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_IP_PRI_MANGLE: i32 = -150;
const NF_ACCEPT: u32 = 1;
const IFNAMSIZ: usize = 16;

/// Netlink attributes being built.
#[derive(Default)]
struct Attrs(Vec<u8>);

impl Attrs {
    fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }
    fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.put(ty, &d)
    }
    fn be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    fn nest(&mut self, ty: u16, inner: &Attrs) -> &mut Self {
        self.put(ty | NLA_F_NESTED, &inner.0)
    }
    fn data(&mut self, ty: u16, value: &[u8]) -> &mut Self {
        let mut v = Attrs::default();
        v.put(NFTA_DATA_VALUE, value);
        self.nest(ty, &v)
    }
}

fn expr(name: &str, data: Attrs) -> Attrs {
    let mut e = Attrs::default();
    e.str(NFTA_EXPR_NAME, name).nest(NFTA_EXPR_DATA, &data);
    e
}

fn meta_load(key: u32) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_META_KEY, key).be32(NFTA_META_DREG, NFT_REG_1);
    expr("meta", d)
}
fn meta_set(key: u32) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_META_KEY, key).be32(NFTA_META_SREG, NFT_REG_1);
    expr("meta", d)
}
fn ct_load(key: u32) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_CT_KEY, key).be32(NFTA_CT_DREG, NFT_REG_1);
    expr("ct", d)
}
fn ct_set(key: u32) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_CT_KEY, key).be32(NFTA_CT_SREG, NFT_REG_1);
    expr("ct", d)
}
fn cmp(op: u32, value: &[u8]) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_CMP_SREG, NFT_REG_1).be32(NFTA_CMP_OP, op).data(NFTA_CMP_DATA, value);
    expr("cmp", d)
}
fn bitwise_and(mask: u32) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_BITWISE_SREG, NFT_REG_1)
        .be32(NFTA_BITWISE_DREG, NFT_REG_1)
        .be32(NFTA_BITWISE_LEN, 4)
        .data(NFTA_BITWISE_MASK, &mask.to_ne_bytes())
        .data(NFTA_BITWISE_XOR, &0u32.to_ne_bytes());
    expr("bitwise", d)
}
fn immediate(value: u32) -> Attrs {
    let mut d = Attrs::default();
    d.be32(NFTA_IMMEDIATE_DREG, NFT_REG_1).data(NFTA_IMMEDIATE_DATA, &value.to_ne_bytes());
    expr("immediate", d)
}

fn ifname_bytes(iif: &str) -> Result<[u8; IFNAMSIZ]> {
    let b = iif.as_bytes();
    if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) {
        return Err(Error::Invalid {
            field: "mark iif",
            value: iif.to_string(),
            reason: "interface names are 1 to 15 bytes",
        });
    }
    let mut out = [0u8; IFNAMSIZ];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

/// One netlink message with an `nfgenmsg` header.
fn message(ty: u16, flags: u16, seq: u32, family: u8, attrs: &[u8]) -> Vec<u8> {
    let res_id = if ty == NFNL_MSG_BATCH_BEGIN || ty == NFNL_MSG_BATCH_END {
        NFNL_SUBSYS_NFTABLES.to_be_bytes()
    } else {
        [0, 0]
    };
    let ty = if ty >= 0x10 { ty } else { (NFNL_SUBSYS_NFTABLES << 8) | ty };
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family, 0, res_id[0], res_id[1]]);
    m.extend_from_slice(attrs);
    m
}

fn table_attrs() -> Attrs {
    let mut t = Attrs::default();
    t.str(NFTA_TABLE_NAME, TABLE);
    t
}

fn chain_attrs(name: &str, kind: &str, hook: u32) -> Attrs {
    let mut h = Attrs::default();
    h.be32(NFTA_HOOK_HOOKNUM, hook).put(NFTA_HOOK_PRIORITY, &NF_IP_PRI_MANGLE.to_be_bytes());
    let mut c = Attrs::default();
    c.str(NFTA_CHAIN_TABLE, TABLE)
        .str(NFTA_CHAIN_NAME, name)
        .nest(NFTA_CHAIN_HOOK, &h)
        .be32(NFTA_CHAIN_POLICY, NF_ACCEPT)
        .str(NFTA_CHAIN_TYPE, kind);
    c
}

fn rule_attrs(chain: &str, exprs: Vec<Attrs>) -> Attrs {
    let mut list = Attrs::default();
    for e in &exprs {
        list.nest(NFTA_LIST_ELEM, e);
    }
    let mut r = Attrs::default();
    r.str(NFTA_RULE_TABLE, TABLE).str(NFTA_RULE_CHAIN, chain).nest(NFTA_RULE_EXPRESSIONS, &list);
    r
}

/// The batch that (re)creates the mark table for `iif`/`mark`, with the
/// sequence numbers of the messages that ask for an ACK.
pub(crate) fn mark_batch(iif: &str, mark: u32, seq0: u32) -> Result<(Vec<u8>, Vec<u32>)> {
    let name = ifname_bytes(iif)?;
    let create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
    let msgs: Vec<(u16, u16, Attrs)> = vec![
        (NFT_MSG_NEWTABLE, create, table_attrs()),
        (NFT_MSG_DELTABLE, NLM_F_REQUEST | NLM_F_ACK, table_attrs()),
        (NFT_MSG_NEWTABLE, create, table_attrs()),
        (NFT_MSG_NEWCHAIN, create, chain_attrs("prerouting", "filter", NF_INET_PRE_ROUTING)),
        (NFT_MSG_NEWCHAIN, create, chain_attrs("output", "route", NF_INET_LOCAL_OUT)),
        (
            NFT_MSG_NEWRULE,
            create | NLM_F_APPEND,
            rule_attrs(
                "prerouting",
                vec![
                    meta_load(NFT_META_IIFNAME),
                    cmp(NFT_CMP_EQ, &name),
                    ct_load(NFT_CT_STATE),
                    bitwise_and(CT_STATE_NEW),
                    cmp(NFT_CMP_NEQ, &0u32.to_ne_bytes()),
                    immediate(mark),
                    meta_set(NFT_META_MARK),
                ],
            ),
        ),
        (
            NFT_MSG_NEWRULE,
            create | NLM_F_APPEND,
            rule_attrs(
                "prerouting",
                vec![
                    meta_load(NFT_META_MARK),
                    cmp(NFT_CMP_EQ, &mark.to_ne_bytes()),
                    ct_set(NFT_CT_MARK),
                ],
            ),
        ),
        (
            NFT_MSG_NEWRULE,
            create | NLM_F_APPEND,
            rule_attrs("output", vec![ct_load(NFT_CT_MARK), meta_set(NFT_META_MARK)]),
        ),
    ];
    Ok(batch(msgs, seq0))
}

fn batch(msgs: Vec<(u16, u16, Attrs)>, seq0: u32) -> (Vec<u8>, Vec<u32>) {
    let mut buf = message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq0, 0, &[]);
    let mut acks = Vec::new();
    let mut seq = seq0;
    for (ty, flags, attrs) in msgs {
        seq += 1;
        buf.extend(message(ty, flags, seq, NFPROTO_INET, &attrs.0));
        acks.push(seq);
    }
    buf.extend(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 1, 0, &[]));
    (buf, acks)
}

/// Netlink messages in a buffer: `(type, seq, payload after nlmsghdr)`.
fn split_messages(buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let seq = u32::from_ne_bytes([buf[off + 8], buf[off + 9], buf[off + 10], buf[off + 11]]);
        out.push((ty, seq, &buf[off + 16..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Attributes in a buffer: `(type without flags, payload)`.
fn split_attrs(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[off], buf[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]) & 0x3fff;
        if len < 4 || off + len > buf.len() {
            break;
        }
        out.push((ty, &buf[off + 4..off + len]));
        off += (len + 3) & !3;
    }
    out
}

fn cstr(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or_default()).into_owned()
}

/// One rule of the mark table as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftRule {
    /// Chain name.
    pub chain: String,
    /// Expression names in order (`meta`, `cmp`, `ct`, ...).
    pub exprs: Vec<String>,
    /// The values the rule's `cmp` expressions compare with.
    pub cmp_values: Vec<Vec<u8>>,
    /// The values of its `immediate` expressions.
    pub immediates: Vec<Vec<u8>>,
}

/// What the mark table holds (empty when there is no such table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkState {
    /// Rules of table `inet spiderpool`.
    pub rules: Vec<NftRule>,
}

impl MarkState {
    /// True when the table marks new connections from `iif` with `mark`, saves
    /// the mark into the connection and restores it on output.
    pub fn has(&self, iif: &str, mark: u32) -> bool {
        let Ok(name) = ifname_bytes(iif) else { return false };
        let mark_b = mark.to_ne_bytes().to_vec();
        let set = self.rules.iter().any(|r| {
            r.chain == "prerouting"
                && r.cmp_values.iter().any(|v| v[..] == name[..])
                && r.immediates.contains(&mark_b)
        });
        let save = self.rules.iter().any(|r| {
            r.chain == "prerouting"
                && r.exprs == ["meta", "cmp", "ct"]
                && r.cmp_values.contains(&mark_b)
        });
        let restore = self.rules.iter().any(|r| r.chain == "output" && r.exprs == ["ct", "meta"]);
        set && save && restore
    }
}

fn parse_rule(payload: &[u8]) -> NftRule {
    let mut rule = NftRule::default();
    for (ty, v) in split_attrs(payload.get(4..).unwrap_or_default()) {
        match ty {
            NFTA_RULE_CHAIN => rule.chain = cstr(v),
            NFTA_RULE_EXPRESSIONS => {
                for (_, elem) in split_attrs(v) {
                    let mut name = String::new();
                    let mut data: &[u8] = &[];
                    for (t, x) in split_attrs(elem) {
                        match t {
                            NFTA_EXPR_NAME => name = cstr(x),
                            NFTA_EXPR_DATA => data = x,
                            _ => {}
                        }
                    }
                    let want = match name.as_str() {
                        "cmp" => Some(NFTA_CMP_DATA),
                        "immediate" => Some(NFTA_IMMEDIATE_DATA),
                        _ => None,
                    };
                    if let Some(want) = want {
                        for (t, x) in split_attrs(data) {
                            if t == want
                                && let Some((_, val)) =
                                    split_attrs(x).into_iter().find(|(t, _)| *t == NFTA_DATA_VALUE)
                            {
                                if name == "cmp" {
                                    rule.cmp_values.push(val.to_vec());
                                } else {
                                    rule.immediates.push(val.to_vec());
                                }
                            }
                        }
                    }
                    rule.exprs.push(name);
                }
            }
            _ => {}
        }
    }
    rule
}

fn nft_io(what: &str, cause: std::io::Error) -> Error {
    Error::Nftables { what: what.to_string(), cause }
}

fn open() -> Result<Socket> {
    let mut s = Socket::new(NETLINK_NETFILTER).map_err(|e| nft_io("open socket", e))?;
    s.bind_auto().map_err(|e| nft_io("bind socket", e))?;
    socket2::SockRef::from(&s)
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| nft_io("socket timeout", e))?;
    Ok(s)
}

fn send(s: &Socket, what: &str, buf: &[u8]) -> Result<()> {
    s.send_to(buf, &SocketAddr::new(0, 0), 0).map_err(|e| nft_io(what, e))?;
    Ok(())
}

/// Receives until every sequence number in `acks` is acknowledged; the first
/// kernel error fails the request.
fn wait_acks(s: &Socket, what: &str, acks: &[u32]) -> Result<()> {
    let mut pending: Vec<u32> = acks.to_vec();
    while !pending.is_empty() {
        let (buf, _) = s.recv_from_full().map_err(|e| nft_io(what, e))?;
        for (ty, seq, payload) in split_messages(&buf) {
            if ty != NLMSG_ERROR || payload.len() < 4 {
                continue;
            }
            let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
            if code != 0 {
                return Err(nft_io(what, std::io::Error::from_raw_os_error(-code)));
            }
            pending.retain(|p| *p != seq);
        }
    }
    Ok(())
}

/// (Re)creates the mark table for `iif` / `mark` in the calling thread's
/// network namespace.
pub fn apply_marks(iif: &str, mark: u32) -> Result<()> {
    let s = open()?;
    let (buf, acks) = mark_batch(iif, mark, 1)?;
    send(&s, "send mark batch", &buf)?;
    wait_acks(&s, &format!("create table inet {TABLE} (iif {iif}, mark {mark:#x})"), &acks)
}

/// Deletes the mark table in the calling thread's namespace; a missing table
/// is not an error.
pub fn delete_marks() -> Result<()> {
    let s = open()?;
    let (buf, acks) = batch(vec![(NFT_MSG_DELTABLE, NLM_F_REQUEST | NLM_F_ACK, table_attrs())], 1);
    send(&s, "send delete batch", &buf)?;
    match wait_acks(&s, &format!("delete table inet {TABLE}"), &acks) {
        Err(Error::Nftables { cause, .. }) if cause.raw_os_error() == Some(2) => Ok(()),
        other => other,
    }
}

/// Reads the rules of the mark table in the calling thread's namespace.
pub fn read_marks() -> Result<MarkState> {
    let s = open()?;
    let mut attrs = Attrs::default();
    attrs.str(NFTA_RULE_TABLE, TABLE);
    let req = message(NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, 1, NFPROTO_INET, &attrs.0);
    send(&s, "dump rules", &req)?;
    let mut state = MarkState::default();
    loop {
        let (buf, _) = s.recv_from_full().map_err(|e| nft_io("dump rules", e))?;
        for (ty, _, payload) in split_messages(&buf) {
            match ty {
                NLMSG_DONE => return Ok(state),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    // No such table: nothing marked.
                    if code == 0 || code == -2 {
                        return Ok(state);
                    }
                    return Err(nft_io("dump rules", std::io::Error::from_raw_os_error(-code)));
                }
                t if t == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE => {
                    state.rules.push(parse_rule(payload));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_framed_and_reads_back_as_the_mark_rules() {
        let (buf, acks) = mark_batch("veth0", 0x1, 7).unwrap();
        let msgs = split_messages(&buf);
        assert_eq!(msgs.len(), 10, "begin + 8 + end");
        assert_eq!(msgs[0].0, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(msgs[9].0, NFNL_MSG_BATCH_END);
        assert_eq!(acks, (8..16).collect::<Vec<_>>());
        let total: usize = buf.len();
        assert_eq!(total % 4, 0);
        // The NEWRULE payloads parse back into what `MarkState::has` wants.
        let rules: Vec<NftRule> = msgs
            .iter()
            .filter(|(ty, _, _)| *ty == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)
            .map(|(_, _, p)| parse_rule(p))
            .collect();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].exprs, ["meta", "cmp", "ct", "bitwise", "cmp", "immediate", "meta"]);
        let state = MarkState { rules };
        assert!(state.has("veth0", 1));
        assert!(!state.has("veth1", 1));
        assert!(!state.has("veth0", 2));
    }

    #[test]
    fn bad_interface_names_are_rejected_with_the_value() {
        for bad in ["", "a-name-that-is-too-long"] {
            let e = mark_batch(bad, 1, 0).unwrap_err().to_string();
            assert!(e.contains("mark iif") && e.contains(bad), "{e}");
        }
    }
}
