//! Consultation (DESIGN §4): propose (民事民提), deliberate (民事民议), decide
//! (民事民决), evaluate (民事民评).
//!
//! - [`settings`]: the community's seconding threshold, proxy limit, notice period.
//! - [`council`]: councils and their members.
//! - [`proposal`]: proposals, seconds, review, merging, comments, completion, ratings.
//! - [`meeting`]: council meetings, agenda, check-in, quorum, minutes.
//! - [`ballot`]: ballots with a fixed electorate, votes (online, paper, proxy),
//!   secret ballots, closing and published results.
//! - [`live`]: the live tally hub (in process, and across replicas through
//!   PostgreSQL LISTEN/NOTIFY) and the background task that opens and closes
//!   ballots on time.
//! - [`outbox`]: the notifications outbox and its sender.

pub mod ballot;
pub mod council;
pub mod live;
pub mod meeting;
pub mod outbox;
pub mod proposal;
pub mod settings;
