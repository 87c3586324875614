//! Consultation (DESIGN §4): propose (民事民提), deliberate (民事民议), decide
//! (民事民决), evaluate (民事民评).
//!
//! - [`settings`]: the community's seconding threshold, proxy limit, notice period.
//! - [`council`]: councils and their members.
//! - [`proposal`]: proposals, seconds, review, merging, comments, completion, ratings.
//! - [`meeting`]: council meetings, agenda, check-in, quorum, minutes.
//! - [`ballot`]: ballots with a fixed electorate, votes (online, paper, proxy),
//!   secret ballots, closing and published results.
//! - [`tally_feed`]: how a vote announces a changed tally (a
//!   [`tally_feed::TallyPublisher`], implemented by `crate::realtime`, and a
//!   PostgreSQL NOTIFY in the vote's transaction).
//! - [`outbox`]: the notifications outbox and its sender.

pub mod ballot;
pub mod council;
pub mod meeting;
pub mod outbox;
pub mod proposal;
pub mod settings;
pub mod tally_feed;
