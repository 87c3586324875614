//! The community covenant (社区居民公约): one covenant per community, numbered
//! versions of articles, comments, pledges, filing, ratings and awards (DESIGN §5).

// The domain and its main table share the word DESIGN uses for both.
#[allow(clippy::module_inception)]
pub mod covenant;
pub mod covenant_article;
pub mod covenant_award;
pub mod covenant_comment;
pub mod covenant_filing;
pub mod covenant_pledge;
pub mod covenant_rating;
pub mod covenant_version;
