//! [`RvTracker`]: which `resourceVersion` of one object the store holds, and
//! whether a newly seen one is newer — without ever comparing two of them.
//!
//! Kubernetes' `resourceVersion` is an opaque string: clients may test two for
//! equality, never order them. Yet the store learns an object's state from two
//! sources that race each other: the watch (ordered, but late) and the answers
//! to its own requests (a status write, a fresh GET; early, but possibly
//! overtaken by the watch). Ordering comes from the watch alone:
//!
//! - an answer whose version the watch has already delivered is old (the watch
//!   is at or past it) and is not installed;
//! - after installing an answer, the store *awaits its echo*: every watch event
//!   before the echo is older than the answer (the watch delivers in order), so
//!   it is skipped; the echo itself clears the wait;
//! - a relist (after `410 Gone` or a restart) is the current state of the
//!   cluster: it is installed and clears any wait;
//! - an awaited echo that never comes (its event fell out of the watch's
//!   window, say) stops being awaited after [`ECHO_WAIT`]; installing an older
//!   state then is safe, only slower: the next compare-and-swap write against
//!   it fails with 409 and the store reads the object afresh.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long an installed answer keeps older watch events out.
pub(super) const ECHO_WAIT: Duration = Duration::from_secs(10);

/// How many of the last delivered versions are remembered per object.
const DELIVERED: usize = 64;

/// What the store waits for the watch to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaited {
    /// The event of this version (an answer the store installed).
    Version(String),
    /// The object's `Deleted` event (the store deleted it, or a fresh GET
    /// found it gone).
    Deletion,
}

/// What an answer of the API server is, next to what the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Newer than anything the watch delivered: install it.
    New,
    /// The version the store holds, or is installing from the watch.
    Held,
    /// The watch delivered it and something newer since: do not install.
    Older,
}

/// The `resourceVersion` bookkeeping of one object (see the module doc).
#[derive(Debug, Clone, Default)]
pub(super) struct RvTracker {
    /// The version of the installed state; `None` when the object is absent
    /// or its version unknown.
    rv: Option<String>,
    awaiting: Option<(Awaited, Instant)>,
    /// The last versions the watch delivered, newest last.
    delivered: VecDeque<String>,
}

impl RvTracker {
    /// The version of the installed state.
    #[cfg(test)]
    pub(super) fn rv(&self) -> Option<&str> {
        self.rv.as_deref()
    }

    fn remember(&mut self, rv: &str) {
        if self.delivered.len() == DELIVERED {
            self.delivered.pop_front();
        }
        self.delivered.push_back(rv.to_owned());
    }

    /// True while an installed answer keeps older events out (a slot that
    /// waits must be kept even when it holds nothing).
    pub(super) fn waiting(&self, now: Instant) -> bool {
        self.awaiting.as_ref().is_some_and(|(_, since)| now.duration_since(*since) < ECHO_WAIT)
    }

    /// The watch delivered the object at `rv`: true when the store should
    /// install it (it is newer than the installed state and differs from it).
    pub(super) fn on_watch_apply(&mut self, rv: &str, now: Instant) -> bool {
        self.remember(rv);
        if let Some((Awaited::Version(want), _)) = &self.awaiting
            && want == rv
        {
            self.awaiting = None;
            return self.take(rv);
        }
        if self.waiting(now) {
            return false;
        }
        self.awaiting = None;
        self.take(rv)
    }

    /// The watch delivered the object's deletion at `rv`: true when the store
    /// should drop the object (false: the store has since created it again).
    pub(super) fn on_watch_delete(&mut self, rv: &str, now: Instant) -> bool {
        self.remember(rv);
        match &self.awaiting {
            Some((Awaited::Deletion, _)) => {}
            Some(_) if self.waiting(now) => return false,
            _ => {}
        }
        self.awaiting = None;
        self.rv = None;
        true
    }

    /// A relist holds the object at `rv`: installed unless already held.
    pub(super) fn on_relist(&mut self, rv: &str) -> bool {
        self.remember(rv);
        self.awaiting = None;
        self.take(rv)
    }

    /// A relist does not hold the object: true when the store should drop it
    /// (false while it awaits the echo of its own create, which the relist may
    /// predate — the watch then delivers it).
    pub(super) fn on_relist_absent(&mut self, now: Instant) -> bool {
        if let Some((Awaited::Version(_), _)) = &self.awaiting
            && self.waiting(now)
        {
            return false;
        }
        self.awaiting = None;
        self.rv = None;
        true
    }

    /// An answer of the API server (a write or a fresh GET) holds the object
    /// at `rv`: whether the store should install it.
    pub(super) fn on_answer(&mut self, rv: &str, now: Instant) -> Answer {
        if self.rv.as_deref() == Some(rv) {
            return Answer::Held;
        }
        if self.delivered.iter().any(|d| d == rv) {
            return Answer::Older;
        }
        self.rv = Some(rv.to_owned());
        self.awaiting = Some((Awaited::Version(rv.to_owned()), now));
        Answer::New
    }

    /// An answer of the API server says the object is gone (the store deleted
    /// it, or a fresh GET found nothing).
    pub(super) fn on_answer_gone(&mut self, now: Instant) {
        self.rv = None;
        self.awaiting = Some((Awaited::Deletion, now));
    }

    fn take(&mut self, rv: &str) -> bool {
        if self.rv.as_deref() == Some(rv) {
            return false;
        }
        self.rv = Some(rv.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn watch_events_install_each_new_version_once() {
        let t = Instant::now();
        let mut r = RvTracker::default();
        assert!(r.on_watch_apply("7", t));
        assert!(!r.on_watch_apply("7", t), "the same version again changes nothing");
        assert!(r.on_watch_apply("9", t));
        assert_eq!(r.rv(), Some("9"));
    }

    /// Our write answered "12"; the watch then delivers "10" and "11" (older
    /// writes of other nodes it had not delivered yet) before the echo.
    #[test]
    fn events_before_the_echo_of_an_answer_are_older_and_skipped() {
        let t = Instant::now();
        let mut r = RvTracker::default();
        assert!(r.on_watch_apply("9", t));
        assert_eq!(r.on_answer("12", t), Answer::New);
        assert!(!r.on_watch_apply("10", at(t, 1)));
        assert!(!r.on_watch_apply("11", at(t, 2)));
        assert!(!r.on_watch_apply("12", at(t, 3)), "the echo: already installed");
        assert_eq!(r.rv(), Some("12"));
        assert!(r.on_watch_apply("15", at(t, 4)), "after the echo, events are newer");
    }

    /// The watch delivered "12" and "13" before our write's answer "12"
    /// arrived: the answer is older than what the watch installed.
    #[test]
    fn an_answer_the_watch_already_delivered_is_not_installed() {
        let t = Instant::now();
        let mut r = RvTracker::default();
        assert!(r.on_watch_apply("12", t));
        assert!(r.on_watch_apply("13", t));
        assert_eq!(r.on_answer("12", t), Answer::Older);
        assert_eq!(r.on_answer("13", t), Answer::Held);
        assert_eq!(r.rv(), Some("13"));
    }

    #[test]
    fn a_lost_echo_stops_blocking_after_the_wait() {
        let t = Instant::now();
        let mut r = RvTracker::default();
        assert_eq!(r.on_answer("20", t), Answer::New);
        assert!(!r.on_watch_apply("18", at(t, 10)));
        let late = t + ECHO_WAIT + Duration::from_millis(1);
        assert!(r.on_watch_apply("25", late));
        assert_eq!(r.rv(), Some("25"));
    }

    #[test]
    fn a_relist_is_current_and_ends_the_wait() {
        let t = Instant::now();
        let mut r = RvTracker::default();
        assert_eq!(r.on_answer("20", t), Answer::New);
        assert!(r.on_relist("30"));
        assert!(r.on_watch_apply("31", at(t, 1)), "no longer waiting for 20");
    }

    /// We deleted the object and created it again ("40"); the deletion's event
    /// ("35") arrives after the create's answer and must not drop it.
    #[test]
    fn a_deletion_older_than_our_create_is_skipped() {
        let t = Instant::now();
        let mut r = RvTracker::default();
        assert!(r.on_watch_apply("30", t));
        r.on_answer_gone(t);
        assert_eq!(r.rv(), None);
        assert!(!r.on_watch_apply("33", at(t, 1)), "an update before our delete");
        assert!(r.on_watch_delete("35", at(t, 2)), "the awaited deletion");
        assert_eq!(r.on_answer("40", at(t, 3)), Answer::New);
        assert!(!r.on_watch_delete("38", at(t, 4)), "a deletion before the create's echo is older");
        assert!(!r.on_relist_absent(at(t, 5)), "a relist may predate our create");
        assert!(!r.on_watch_apply("40", at(t, 6)), "the echo of the create");
        assert!(r.on_watch_delete("50", at(t, 7)), "a deletion after the echo is real");
    }
}
