//! Consultation (DESIGN §4): councils, proposals, meetings, ballots,
//! published results and the notifications outbox.

pub mod ballot;
pub mod ballot_elector;
pub mod ballot_proxy;
pub mod ballot_result_notice;
pub mod ballot_secret_tally;
pub mod ballot_vote;
pub mod comment_report;
pub mod council;
pub mod council_member;
pub mod meeting;
pub mod meeting_agenda_item;
pub mod meeting_attendance;
pub mod notification_outbox;
pub mod proposal;
pub mod proposal_comment;
pub mod proposal_rating;
pub mod proposal_second;
pub mod setting;
