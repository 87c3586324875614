//! Tenant isolation over the whole schema.
//!
//! The test seeds community A with a record of every kind an ID argument
//! can name (proposals and their comments, councils, meetings, ballots and
//! proxies, the covenant with its versions, articles and comments, the
//! three lists, organisations, points accounts and postings, activities,
//! teams, catalogue items and redemptions …) and a row of every table
//! (business carried to its end too: a closed ballot, the covenant in
//! force, a rated project …; a new table fails the test until the seed
//! makes one of its rows), reads the schema by
//! introspection and, for every query and mutation that takes an ID (a
//! community's, or one of a community's records), calls it with the ids of
//! those records as staff of community B, as a resident of community B and
//! anonymously. Every call must be refused with FORBIDDEN, NOT_FOUND or
//! UNAUTHENTICATED, and every row of every table must be the same
//! afterwards, column by column.
//!
//! A refusal must come from authorisation, not from a wrong id. The code
//! answers NOT_FOUND for a record the caller may not see ("不存在或您无权查看"),
//! so the test proves each id real: every id it passes is checked in the
//! database to be a record of community A, and the same calls, made
//! afterwards by community A's own people, are not answered NOT_FOUND.
//!
//! Arguments are built from the introspected types: IDs from the seeded
//! records, chosen by the argument's name in [`ID_ARGS`] (an ID argument
//! missing there fails the test), plausible strings, numbers, dates, the
//! first value of an enum, and input objects built the same way. A new
//! operation is covered without editing this file; only operations public
//! by design are listed in `PUBLIC`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::credits_support;
use crate::lists_support;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Datelike, Duration, Utc};
use linli::world::Person;
use linli::{TestApp, World, backend_tests};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value as SqlValue};
use serde_json::{Value, json};
use uuid::Uuid;

/// Who may call an operation on another community's records by design.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Public {
    /// Anyone, logged in or not.
    Everyone,
    /// Any logged-in user; anonymous callers are still refused.
    LoggedIn,
}

/// Operations that are public by design, and why.
const PUBLIC: &[(&str, Public)] = &[
    // The public directory of communities (name, street): what a resident
    // browses before asking to join; records below it need membership.
    ("community", Public::Everyone),
    // The public region directory (districts, streets, communities).
    ("region", Public::Everyone),
    ("regions", Public::Everyone),
    // The covenant in force is published to everyone (公约公示).
    ("covenant", Public::Everyone),
    // Anyone logged in may ask to join any community (a PENDING request
    // its staff then review).
    ("joinCommunity", Public::LoggedIn),
];

/// The phone number the calls give (a seeded volunteer's login).
const PHONE: &str = "13912345678";

const REFUSALS: &[&str] = &["FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"];

/// Which seeded record of community A an ID argument names: by operation
/// and argument (`*`: any operation); the first match wins. The record is
/// a label of [`Seed::records`]. An ID argument (or ID field of an input
/// object) found nowhere here fails the test: seed its record and map it.
const ID_ARGS: &[(&str, &str, &str)] = &[
    // `id` of the one-record queries.
    ("community", "id", "community"),
    ("region", "id", "community"),
    ("resource", "id", "resource"),
    ("need", "id", "need"),
    ("project", "id", "project"),
    ("proposal", "id", "proposal"),
    ("ballot", "id", "ballot"),
    ("meeting", "id", "meeting"),
    ("covenantVersion", "id", "covenant_version"),
    ("account", "id", "point_account"),
    ("activity", "id", "activity"),
    // Arguments whose record depends on the operation.
    ("replyCovenantComment", "commentId", "covenant_comment"),
    ("commentProposal", "parentId", "proposal_comment"),
    ("mergeProposal", "intoProposalId", "proposal_2"),
    ("regionIndices", "regionId", "street"),
    ("regionCovenants", "regionId", "street"),
    // Everywhere else, by name.
    ("*", "communityId", "community"),
    ("*", "regionId", "community"),
    ("*", "streetId", "street"),
    ("*", "parentId", "street"),
    ("*", "officerId", "officer"),
    ("*", "membershipId", "membership"),
    ("*", "userId", "resident"),
    ("*", "memberIds", "resident"),
    ("*", "voterId", "resident"),
    ("*", "toUserId", "resident"),
    ("*", "providerId", "resident"),
    ("*", "onBehalfOf", "resident"),
    ("*", "holderId", "volunteer"),
    ("*", "leaderId", "volunteer"),
    ("*", "resourceId", "resource"),
    ("*", "needId", "need"),
    ("*", "needIds", "need"),
    ("*", "projectId", "project"),
    ("*", "organisationId", "organisation"),
    ("*", "leadOrganisationId", "organisation"),
    ("*", "proposalId", "proposal"),
    ("*", "proposalIds", "proposal"),
    ("*", "intoProposalId", "proposal_2"),
    ("*", "commentId", "proposal_comment"),
    ("*", "councilId", "council"),
    ("*", "meetingId", "meeting"),
    ("*", "ballotId", "ballot"),
    ("*", "proxyId", "ballot_proxy"),
    ("*", "covenantId", "covenant"),
    ("*", "versionId", "covenant_version"),
    ("*", "covenantVersionId", "covenant_version"),
    ("*", "fromVersionId", "covenant_version"),
    ("*", "toVersionId", "covenant_version"),
    ("*", "articleId", "covenant_article"),
    ("*", "accountId", "point_account"),
    ("*", "postingId", "posting"),
    ("*", "activityId", "activity"),
    ("*", "teamId", "volunteer_team"),
    ("*", "itemId", "catalog_item"),
    ("*", "redemptionId", "redemption"),
];

const TYPE_REF: &str = "fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

fn introspection_query() -> String {
    format!(
        "{{ __schema {{ queryType {{ fields {{ name args {{ name type {{ ...T }} }} type {{ ...T }} }} }}
           mutationType {{ fields {{ name args {{ name type {{ ...T }} }} type {{ ...T }} }} }}
           types {{ kind name enumValues {{ name }} inputFields {{ name type {{ ...T }} }} }} }} }} {TYPE_REF}"
    )
}

/// The named type below NON_NULL and LIST wrappers.
fn named(ty: &Value) -> (&str, &str) {
    let mut t = ty;
    while t["name"].is_null() {
        t = &t["ofType"];
    }
    (t["kind"].as_str().unwrap(), t["name"].as_str().unwrap())
}

/// The type as written in a variable definition: `[ID!]!`.
fn type_string(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_string(&ty["ofType"])),
        "LIST" => format!("[{}]", type_string(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_string(),
    }
}

struct Schema {
    types: HashMap<String, Value>,
}

impl Schema {
    /// Whether values of this type carry an ID (directly or in an input's fields).
    fn carries_id(&self, ty: &Value, depth: usize) -> bool {
        let (kind, name) = named(ty);
        match kind {
            "SCALAR" => name == "ID",
            "INPUT_OBJECT" if depth < 4 => self.types[name]["inputFields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| self.carries_id(&f["type"], depth + 1)),
            _ => false,
        }
    }
}

/// Community A's seeded records: a label (see [`ID_ARGS`]) → its table and id.
struct Seed {
    records: BTreeMap<&'static str, (&'static str, Uuid)>,
    /// A volunteer of A: the holder of the resident's proxy.
    volunteer: Person,
}

impl Seed {
    /// The seeded record an ID argument `arg` of operation `field` names.
    fn for_arg(&self, field: &str, arg: &str) -> Result<Uuid, String> {
        let label = ID_ARGS
            .iter()
            .find(|(f, a, _)| (*f == field || *f == "*") && *a == arg)
            .map(|(_, _, label)| *label)
            .ok_or_else(|| format!("{field}({arg}): no entry in ID_ARGS"))?;
        self.records
            .get(label)
            .map(|(_, id)| *id)
            .ok_or_else(|| format!("{field}({arg}): `{label}` is not seeded"))
    }
}

fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

async fn query_with(app: &TestApp, sql: &str, values: Vec<SqlValue>) -> Vec<sea_orm::QueryResult> {
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn tables(app: &TestApp) -> Vec<String> {
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let mut names: Vec<String> = query_with(app, sql, vec![])
        .await
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    names.sort();
    names
}

async fn columns(app: &TestApp, table: &str) -> Vec<String> {
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"
        ),
        _ => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
    };
    query_with(app, &sql, vec![])
        .await
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// Every row of every table, each rendered with all its columns (names and
/// values), sorted: a table's rows compare equal only when no value of any
/// column changed.
async fn snapshot(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let backend = app.db.get_database_backend();
    let mut all = BTreeMap::new();
    for table in tables(app).await {
        let sql = match backend {
            DbBackend::Postgres => format!("SELECT row_to_json(t)::text FROM \"{table}\" t"),
            _ => {
                let rendered: Vec<String> = columns(app, &table)
                    .await
                    .iter()
                    .map(|c| format!("'{c}=' || quote(\"{c}\")"))
                    .collect();
                format!("SELECT {} FROM \"{table}\"", rendered.join(" || ', ' || "))
            }
        };
        let mut rows: Vec<String> = query_with(app, &sql, vec![])
            .await
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        rows.sort();
        all.insert(table, rows);
    }
    all
}

/// The rows that differ between two snapshots, table by table.
fn differences(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let empty = Vec::new();
    for table in names {
        let old: BTreeSet<&String> = before.get(table).unwrap_or(&empty).iter().collect();
        let new: BTreeSet<&String> = after.get(table).unwrap_or(&empty).iter().collect();
        for row in old.difference(&new) {
            out.push(format!("{table}: gone or changed: {row}"));
        }
        for row in new.difference(&old) {
            out.push(format!("{table}: new or changed: {row}"));
        }
    }
    out
}

/// Whether `id` is a record of community A in `table`: a row with A's
/// `community_id`; for a region, A itself or its street; for an officer,
/// one over A or its street; for a user, an active member of A.
async fn in_community_a(app: &TestApp, world: &World, table: &str, id: Uuid) -> bool {
    let backend = app.db.get_database_backend();
    let (p1, p2) = (placeholder(backend, 1), placeholder(backend, 2));
    let sql = match table {
        "region" => format!(
            "SELECT id FROM region WHERE id = {p1} AND (id = {p2} OR id = (SELECT parent_id FROM region WHERE id = {p2}))"
        ),
        "region_officer" => format!(
            "SELECT id FROM region_officer WHERE id = {p1} AND (region_id = {p2} OR region_id = (SELECT parent_id FROM region WHERE id = {p2}))"
        ),
        "users" => format!(
            "SELECT id FROM membership WHERE user_id = {p1} AND community_id = {p2} AND status = 'ACTIVE'"
        ),
        _ => format!("SELECT id FROM \"{table}\" WHERE id = {p1} AND community_id = {p2}"),
    };
    !query_with(app, &sql, vec![id.into(), world.community_a.into()])
        .await
        .is_empty()
}

/// Runs a mutation that must succeed and returns the id of what it made.
async fn made(app: &TestApp, who: &Person, query: &str, variables: Value) -> Uuid {
    let response = app.gql(who.token(), query, variables).await;
    let data = response.data().as_object().unwrap();
    let (_, made) = data.iter().next().unwrap();
    made["id"].as_str().unwrap().parse().unwrap()
}

async fn one_id(app: &TestApp, sql: &str, value: Uuid) -> Uuid {
    let rows = query_with(app, sql, vec![value.into()]).await;
    rows.first()
        .unwrap_or_else(|| panic!("no row: {sql}"))
        .try_get_by_index::<Uuid>(0)
        .unwrap()
}

/// Records of every kind in community A, made through the API (as A's own
/// people would make them), by label.
async fn seed_community_a(app: &TestApp, w: &World) -> Seed {
    use credits_support as credits;
    use lists_support as lists;
    let p1 = placeholder(app.db.get_database_backend(), 1);
    let staff = &w.staff_a;
    let resident = &w.resident_a;
    let mut records: BTreeMap<&'static str, (&'static str, Uuid)> = BTreeMap::new();
    records.insert("community", ("region", w.community_a));
    records.insert("street", ("region", w.street_a));
    records.insert(
        "membership",
        ("membership", resident.membership_id.unwrap()),
    );
    records.insert("resident", ("users", resident.id));
    let officer = one_id(
        app,
        &format!("SELECT id FROM region_officer WHERE user_id = {p1}"),
        w.street_admin_a.id,
    )
    .await;
    records.insert("officer", ("region_officer", officer));
    let volunteer = credits::household_member(app, w, "王志愿", "5栋", "501").await;
    records.insert("volunteer", ("users", volunteer.id));
    // The volunteer logs in by the phone the calls give (`appointOfficer`
    // then names an existing account).
    app.gql(
        volunteer.token(),
        "mutation($p: String!) { setPassword(phone: $p, password: \"volunteer-password-1\") { id } }",
        json!({"p": PHONE}),
    )
    .await
    .data();

    // The three lists, and an organisation with a representative.
    let resource = lists::resource(app, staff, w.community_a, "电钻", "GOODS", 3, &[]).await;
    let need = lists::accepted_need(app, resident, staff, w.community_a, "修水管").await;
    let project = lists::project(
        app,
        staff,
        w.community_a,
        "水管维修",
        &[&need],
        &[(&resource, 1)],
        1000,
    )
    .await;
    records.insert("resource", ("resource", resource.parse().unwrap()));
    records.insert("need", ("need", need.parse().unwrap()));
    records.insert("project", ("project", lists::id(&project).parse().unwrap()));
    let organisation = made(
        app,
        staff,
        "mutation($r: ID!) { createOrganisation(regionId: $r, name: \"幸福社工站\", kind: SOCIAL_ORGANISATION) { id } }",
        json!({"r": w.community_a}),
    )
    .await;
    records.insert("organisation", ("organisation", organisation));
    app.gql(
        staff.token(),
        "mutation($o: ID!, $u: ID!) { addOrganisationRepresentative(organisationId: $o, userId: $u) { id } }",
        json!({"o": organisation, "u": resident.id}),
    )
    .await
    .data();

    // Consultation: proposals, a comment (reported), a council meeting on
    // the accepted proposal, a ballot with a proxy and a vote.
    app.gql(
        staff.token(),
        "mutation($c: ID!) { updateConsultationSettings(communityId: $c, secondingKind: RESIDENTS, secondingValue: 1) { secondingValue } }",
        json!({"c": w.community_a}),
    )
    .await
    .data();
    let submit = "mutation($c: ID!, $t: String!) { submitProposal(communityId: $c, title: $t, description: \"3栋门口太暗\") { id } }";
    let proposal = made(
        app,
        resident,
        submit,
        json!({"c": w.community_a, "t": "加装路灯"}),
    )
    .await;
    let proposal_2 = made(
        app,
        resident,
        submit,
        json!({"c": w.community_a, "t": "修缮车棚"}),
    )
    .await;
    records.insert("proposal", ("proposal", proposal));
    records.insert("proposal_2", ("proposal", proposal_2));
    let comment = made(
        app,
        resident,
        "mutation($p: ID!) { commentProposal(proposalId: $p, body: \"赞成\") { id } }",
        json!({"p": proposal}),
    )
    .await;
    records.insert("proposal_comment", ("proposal_comment", comment));
    app.gql(
        staff.token(),
        "mutation($c: ID!) { reportComment(commentId: $c, reason: \"测试举报\") { id } }",
        json!({"c": comment}),
    )
    .await
    .data();
    for step in ["secondProposal", "acceptProposal"] {
        app.gql(
            staff.token(),
            &format!("mutation($p: ID!) {{ {step}(proposalId: $p) {{ id }} }}"),
            json!({"p": proposal}),
        )
        .await
        .data();
    }
    let council = made(
        app,
        staff,
        "mutation($c: ID!, $m: [ID!]!) { createCouncil(communityId: $c, name: \"议事会\", memberIds: $m) { id } }",
        json!({"c": w.community_a, "m": [resident.id, staff.id]}),
    )
    .await;
    records.insert("council", ("council", council));
    let meeting = made(
        app,
        staff,
        "mutation($c: ID!, $s: DateTime!, $p: [ID!]!) { scheduleMeeting(councilId: $c, title: \"议事\", startsAt: $s, proposalIds: $p, quorum: 1, location: \"活动室\") { id } }",
        json!({"c": council, "s": Utc::now() + Duration::days(2), "p": [proposal]}),
    )
    .await;
    records.insert("meeting", ("meeting", meeting));
    let ballot = made(
        app,
        staff,
        "mutation($p: ID!, $at: DateTime!) { openBallot(proposalId: $p, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, closesAt: $at) { id } }",
        json!({"p": proposal, "at": Utc::now() + Duration::days(2)}),
    )
    .await;
    records.insert("ballot", ("ballot", ballot));
    let proxy = made(
        app,
        resident,
        "mutation($b: ID!, $h: ID!) { grantProxy(ballotId: $b, holderId: $h) { id } }",
        json!({"b": ballot, "h": volunteer.id}),
    )
    .await;
    records.insert("ballot_proxy", ("ballot_proxy", proxy));
    app.gql(
        staff.token(),
        "mutation($b: ID!) { castVote(ballotId: $b, choice: FOR) { id } }",
        json!({"b": ballot}),
    )
    .await
    .data();
    app.gql(
        staff.token(),
        "mutation($b: ID!, $v: ID!) { recordPaperVote(ballotId: $b, voterId: $v, choice: AGAINST) { id } }",
        json!({"b": ballot, "v": volunteer.id}),
    )
    .await
    .data();

    // The covenant: a version in comment, an article, a comment and a
    // reply (adopted later, see `finished_business`).
    let (version, article, covenant_comment) = covenant_in_comment(app, w).await;
    records.insert("covenant_version", ("covenant_version", version));
    records.insert("covenant_article", ("covenant_article", article));
    records.insert("covenant_comment", ("covenant_comment", covenant_comment));
    let covenant = app
        .gql(
            staff.token(),
            "query($c: ID!) { covenant(communityId: $c) { id } }",
            json!({"c": w.community_a}),
        )
        .await;
    records.insert(
        "covenant",
        (
            "covenant",
            lists::id(&covenant.data()["covenant"]).parse().unwrap(),
        ),
    );

    // Time credits: an account with a posting, a redemption, an activity
    // with sign-ups, a team with a member.
    let account: Uuid = credits::give(app, w, resident, 500).await.parse().unwrap();
    records.insert("point_account", ("point_account", account));
    let posting = one_id(
        app,
        &format!("SELECT id FROM posting WHERE to_account_id = {p1}"),
        account,
    )
    .await;
    records.insert("posting", ("posting", posting));
    let item = credits::create_item(app, w, "雨伞", 10, 5).await;
    records.insert("catalog_item", ("catalog_item", item.parse().unwrap()));
    let redemption = made(
        app,
        resident,
        credits::REDEEM,
        json!({"item": item, "q": 1, "key": Uuid::now_v7().to_string()}),
    )
    .await;
    records.insert("redemption", ("redemption", redemption));
    // The resident volunteers too, so that the calls naming them
    // (`organiserCheckIn`, `removeTeamMember` …) name a volunteer.
    app.gql(
        staff.token(),
        "mutation($m: ID!) { setMemberRoles(membershipId: $m, roles: [RESIDENT, VOLUNTEER]) { id } }",
        json!({"m": resident.membership_id}),
    )
    .await
    .data();
    app.gql(
        volunteer.token(),
        "mutation($c: ID!) { setVolunteerSkills(communityId: $c, skills: [\"水电\"]) }",
        json!({"c": w.community_a}),
    )
    .await
    .data();
    let activity = credits::future_activity(app, w, 5, 60, 10).await;
    records.insert("activity", ("activity", activity.parse().unwrap()));
    credits::sign_up(app, &volunteer, &activity).await.data();
    credits::sign_up(app, resident, &activity).await.data();
    let team = made(
        app,
        staff,
        "mutation($c: ID!, $l: ID!) { createVolunteerTeam(communityId: $c, name: \"巡逻队\", leaderId: $l) { id } }",
        json!({"c": w.community_a, "l": volunteer.id}),
    )
    .await;
    records.insert("volunteer_team", ("volunteer_team", team));
    app.gql(
        staff.token(),
        "mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }",
        json!({"t": team, "u": resident.id}),
    )
    .await
    .data();
    finished_business(app, w, &mut records).await;
    Seed { records, volunteer }
}

/// A new version of community A's covenant (the first creates the
/// covenant), open to comment, with a resident's comment on its second
/// article and staff's reply: the version, the article and the comment.
async fn covenant_in_comment(app: &TestApp, w: &World) -> (Uuid, Uuid, Uuid) {
    use lists_support as lists;
    let (staff, resident) = (&w.staff_a, &w.resident_a);
    let drafted = app
        .gql(
            staff.token(),
            "mutation($c: ID!, $a: [ArticleInput!]!) { draftCovenant(communityId: $c, articles: $a) { id articles { id } } }",
            json!({"c": w.community_a, "a": [
                {"chapter": "第一章 总则", "title": "宗旨", "body": "为建设和谐社区，制定本公约。"},
                {"chapter": "第二章 环境", "title": "垃圾分类", "body": "居民应当按时按类投放生活垃圾。"},
            ]}),
        )
        .await;
    let version: Uuid = lists::id(&drafted.data()["draftCovenant"]).parse().unwrap();
    let article: Uuid = lists::id(&drafted.data()["draftCovenant"]["articles"][1])
        .parse()
        .unwrap();
    ok(
        app,
        staff,
        "mutation($v: ID!, $u: DateTime!) { openCovenantComment(versionId: $v, until: $u) { id } }",
        json!({"v": version, "u": Utc::now() + Duration::days(7)}),
    )
    .await;
    let comment = made(
        app,
        resident,
        "mutation($v: ID!, $a: ID) { commentCovenant(versionId: $v, articleId: $a, body: \"建议增加厨余垃圾的投放时间\") { id } }",
        json!({"v": version, "a": article}),
    )
    .await;
    ok(
        app,
        staff,
        "mutation($c: ID!) { replyCovenantComment(commentId: $c, body: \"感谢建议\") { id } }",
        json!({"c": comment}),
    )
    .await;
    (version, article, comment)
}

/// Runs a call that must succeed.
async fn ok(app: &TestApp, who: &Person, query: &str, variables: Value) {
    app.gql(who.token(), query, variables).await.data();
}

/// Records of business carried to its end in community A, so that the
/// comparison covers them too: the second proposal voted on by secret
/// ballot, carried out and rated; the covenant adopted by ballot, pledged,
/// filed, rated and awarded; the project completed and rated; a need
/// matched, a resource with availability windows, credit rules, a meeting
/// attendance and a login session.
async fn finished_business(
    app: &TestApp,
    w: &World,
    records: &mut BTreeMap<&'static str, (&'static str, Uuid)>,
) {
    use credits_support as credits;
    use lists_support as lists;
    let (staff, resident, street) = (&w.staff_a, &w.resident_a, &w.street_admin_a);
    let labels = records.clone();
    let id = |label: &str| labels[label].1;
    let in_two_days = Utc::now() + Duration::days(2);
    let close_ballot = "mutation($b: ID!) { closeBallot(ballotId: $b) { id } }";
    let vote_for = "mutation($b: ID!) { castVote(ballotId: $b, choice: FOR) { id } }";

    // The second proposal, to its rating.
    for step in ["secondProposal", "acceptProposal"] {
        ok(
            app,
            staff,
            &format!("mutation($p: ID!) {{ {step}(proposalId: $p) {{ id }} }}"),
            json!({"p": id("proposal_2")}),
        )
        .await;
    }
    let secret = made(
        app,
        staff,
        "mutation($p: ID!, $at: DateTime!) { openBallot(proposalId: $p, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: true, closesAt: $at) { id } }",
        json!({"p": id("proposal_2"), "at": in_two_days}),
    )
    .await;
    ok(app, staff, vote_for, json!({"b": secret})).await;
    ok(app, staff, close_ballot, json!({"b": secret})).await;
    ok(
        app,
        staff,
        "mutation($p: ID!) { markProposalDone(proposalId: $p) { id } }",
        json!({"p": id("proposal_2")}),
    )
    .await;
    ok(
        app,
        resident,
        "mutation($p: ID!) { rateProposal(proposalId: $p, score: 5, comment: \"办得好\") { id } }",
        json!({"p": id("proposal_2")}),
    )
    .await;

    // The covenant: the comment period ends (time passes by SQL), the
    // residents adopt it, then it is pledged, filed, rated and awarded.
    let backend = app.db.get_database_backend();
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE covenant_version SET comment_until = {} WHERE id = {}",
                placeholder(backend, 1),
                placeholder(backend, 2)
            ),
            [
                (Utc::now() - Duration::minutes(1)).into(),
                id("covenant_version").into(),
            ],
        ))
        .await
        .unwrap();
    let adoption = made(
        app,
        staff,
        "mutation($v: ID!, $at: DateTime!) { openBallot(covenantVersionId: $v, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, closesAt: $at) { id } }",
        json!({"v": id("covenant_version"), "at": in_two_days}),
    )
    .await;
    ok(app, staff, vote_for, json!({"b": adoption})).await;
    ok(app, staff, close_ballot, json!({"b": adoption})).await;
    ok(
        app,
        resident,
        "mutation($c: ID!) { pledgeCovenant(communityId: $c) { id } }",
        json!({"c": w.community_a}),
    )
    .await;
    ok(
        app,
        street,
        "mutation($v: ID!) { fileCovenant(versionId: $v) { id } }",
        json!({"v": id("covenant_version")}),
    )
    .await;
    ok(
        app,
        street,
        "mutation($v: ID!) { rateCovenant(versionId: $v, score: 90, comment: \"条理清楚\") { score } }",
        json!({"v": id("covenant_version")}),
    )
    .await;
    ok(
        app,
        street,
        "mutation($c: ID!, $y: Int!) { awardCovenant(covenantId: $c, year: $y) { year } }",
        json!({"c": id("covenant"), "y": Utc::now().year()}),
    )
    .await;

    // The version in force is public (公约公示), so the calls name a second
    // version, in comment, with an article and a comment of its own.
    let (version, article, comment) = covenant_in_comment(app, w).await;
    records.insert("covenant_version", ("covenant_version", version));
    records.insert("covenant_article", ("covenant_article", article));
    records.insert("covenant_comment", ("covenant_comment", comment));

    // A second need matched with the resource; then the project runs to
    // its end and is rated.
    let need = lists::accepted_need(app, resident, staff, w.community_a, "换灯泡").await;
    ok(
        app,
        staff,
        "mutation($n: ID!, $r: ID!) { confirmMatch(needId: $n, resourceId: $r) { id } }",
        json!({"n": need, "r": id("resource")}),
    )
    .await;
    let project = id("project").to_string();
    lists::act(app, staff, "submitProject", &project)
        .await
        .data();
    lists::review(app, street, &project, 80).await.data();
    for step in ["selectProject", "startProject", "completeProject"] {
        lists::act(app, staff, step, &project).await.data();
    }
    ok(
        app,
        resident,
        "mutation($p: ID!) { rateProject(projectId: $p, score: 5, comment: \"及时\") { id } }",
        json!({"p": project}),
    )
    .await;

    // A resource with availability windows, and the credit rules.
    let starts = Utc::now() + Duration::days(1);
    ok(
        app,
        resident,
        "mutation($c: ID!, $w: [AvailabilityWindowInput!]) { createResource(communityId: $c, title: \"陪诊\", category: SERVICE, action: NEIGHBOUR_MUTUAL_AID, quantity: 2, unit: \"次\", windows: $w) { id } }",
        json!({"c": w.community_a, "w": [{"startsAt": starts, "endsAt": starts + Duration::hours(3)}]}),
    )
    .await;
    credits::set_rules(app, w, json!({})).await;

    // A meeting about to start, with the resident checked in by staff.
    let soon = made(
        app,
        staff,
        "mutation($c: ID!, $s: DateTime!) { scheduleMeeting(councilId: $c, title: \"临时议事\", startsAt: $s, proposalIds: [], quorum: 1, location: \"活动室\") { id } }",
        json!({"c": id("council"), "s": Utc::now() + Duration::minutes(10)}),
    )
    .await;
    ok(
        app,
        staff,
        "mutation($m: ID!, $u: ID!) { checkInMeeting(meetingId: $m, userId: $u) { id } }",
        json!({"m": soon, "u": resident.id}),
    )
    .await;

    // A login session (a refresh token) of the volunteer.
    app.gql(
        None,
        "mutation($p: String!) { passwordLogin(phone: $p, password: \"volunteer-password-1\") { accessToken } }",
        json!({"p": PHONE}),
    )
    .await
    .data();
}

/// Waits (with a deadline) until the notifications outbox has nothing left
/// to send: its background sender updates rows on its own, which must not
/// be taken for a change made by a refused call.
async fn outbox_drained(app: &TestApp) {
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let pending = app
            .count("SELECT COUNT(*) FROM notification_outbox WHERE status = 'PENDING'")
            .await;
        if pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} notifications still pending after 30 s"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

struct Builder<'a> {
    schema: &'a Schema,
    seed: &'a Seed,
    /// Which value of each enum to use (the first, the second, …).
    enum_offset: usize,
    /// ID arguments with no seeded record (the test fails on any).
    unmapped: &'a RefCell<BTreeSet<String>>,
}

impl Builder<'_> {
    fn value(&self, field: &str, arg: &str, ty: &Value, depth: usize) -> Value {
        match ty["kind"].as_str().unwrap() {
            "NON_NULL" => self.value(field, arg, &ty["ofType"], depth),
            "LIST" => Value::Array(vec![self.value(field, arg, &ty["ofType"], depth)]),
            "ENUM" => {
                let name = ty["name"].as_str().unwrap();
                let values = self.schema.types[name]["enumValues"].as_array().unwrap();
                values[self.enum_offset % values.len()]["name"].clone()
            }
            "INPUT_OBJECT" => {
                let name = ty["name"].as_str().unwrap();
                let mut object = serde_json::Map::new();
                for f in self.schema.types[name]["inputFields"].as_array().unwrap() {
                    let required = f["type"]["kind"] == "NON_NULL";
                    if required || (depth < 3 && self.schema.carries_id(&f["type"], 0)) {
                        let fname = f["name"].as_str().unwrap();
                        object.insert(
                            fname.to_string(),
                            self.value(field, fname, &f["type"], depth + 1),
                        );
                    }
                }
                Value::Object(object)
            }
            _ => self.scalar(field, arg, ty["name"].as_str().unwrap()),
        }
    }

    fn scalar(&self, field: &str, arg: &str, name: &str) -> Value {
        let lower = arg.to_lowercase();
        match name {
            "ID" => match self.seed.for_arg(field, arg) {
                Ok(id) => json!(id.to_string()),
                Err(missing) => {
                    self.unmapped.borrow_mut().insert(missing);
                    json!(Uuid::nil().to_string())
                }
            },
            "Int" if lower == "year" => json!(Utc::now().year()),
            "Int" => json!(1),
            "Float" => json!(1.0),
            "Boolean" => json!(true),
            // A period to look back on (`from`, `to`); something to come
            // starts in three days, ends two hours later, closes in four.
            "DateTime" if lower.contains("from") => json!(Utc::now() - Duration::days(30)),
            "DateTime" if lower == "to" => json!(Utc::now()),
            "DateTime" if lower.starts_with("end") => {
                json!(Utc::now() + Duration::days(3) + Duration::hours(2))
            }
            "DateTime" if lower.starts_with("close") || lower == "until" => {
                json!(Utc::now() + Duration::days(4))
            }
            "DateTime" => json!(Utc::now() + Duration::days(3)),
            _ if lower.contains("phone") => json!(PHONE),
            _ if lower.contains("key") => json!(Uuid::now_v7().to_string()),
            _ if lower.contains("date") => json!("2026-11-22"),
            _ if lower.contains("url") => json!("https://example.com/m"),
            _ => json!("测试内容"),
        }
    }
}

fn selection(ty: &Value) -> &'static str {
    match named(ty).0 {
        "OBJECT" | "INTERFACE" | "UNION" => " { __typename }",
        _ => "",
    }
}

/// How many enum values the arguments of `field` have at most (1 without enums).
fn enum_variants(schema: &Schema, field: &Value) -> usize {
    field["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let (kind, name) = named(&a["type"]);
            (kind == "ENUM").then(|| schema.types[name]["enumValues"].as_array().unwrap().len())
        })
        .max()
        .unwrap_or(1)
        .min(4)
}

/// The calls to make of one operation (its text and variables): required
/// arguments, with each optional ID argument in turn (some are exclusive,
/// like a resource's provider or organisation).
fn calls(b: &Builder, keyword: &str, field: &Value) -> Vec<(String, Value)> {
    let name = field["name"].as_str().unwrap();
    let args = field["args"].as_array().unwrap();
    if !args.iter().any(|a| b.schema.carries_id(&a["type"], 0)) {
        return Vec::new();
    }
    let optional_ids: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| a["type"]["kind"] != "NON_NULL" && b.schema.carries_id(&a["type"], 0))
        .map(|(i, _)| i)
        .collect();
    let choices: Vec<Option<usize>> = if optional_ids.is_empty() {
        vec![None]
    } else {
        optional_ids.into_iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for choice in choices {
        let mut definitions = Vec::new();
        let mut passed = Vec::new();
        let mut variables = serde_json::Map::new();
        for (i, a) in args.iter().enumerate() {
            let required = a["type"]["kind"] == "NON_NULL";
            if !required && choice != Some(i) {
                continue;
            }
            let arg = a["name"].as_str().unwrap();
            definitions.push(format!("$v{i}: {}", type_string(&a["type"])));
            passed.push(format!("{arg}: $v{i}"));
            variables.insert(format!("v{i}"), b.value(name, arg, &a["type"], 0));
        }
        let text = format!(
            "{keyword} Isolation({}) {{ {name}({}){} }}",
            definitions.join(", "),
            passed.join(", "),
            selection(&field["type"])
        );
        out.push((text, Value::Object(variables)));
    }
    out
}

/// Mutations that end the standing of community A's people (a member
/// leaves or is removed, an officer revoked …): when community A's own
/// people make the calls (see the end of the test), these come last, so
/// that the others are made while everyone still belongs.
const ENDS_STANDING: &[&str] = &[
    "approveMembership",
    "leaveCommunity",
    "rejectMembership",
    "removeMember",
    "revokeOfficer",
    "setMemberRoles",
];

/// The answers that show the records were found and read: an answer, or a
/// refusal about the records' state. FORBIDDEN and BAD_USER_INPUT may come
/// before anything is looked up, so they prove nothing.
const FOUND: &[Option<&str>] = &[None, Some("INVALID_STATE"), Some("CONFLICT")];

/// One operation that takes an ID, and the calls made of it.
struct Operation {
    keyword: &'static str,
    name: String,
    public: Option<Public>,
    variants: Vec<(String, Value)>,
}

async fn every_operation_refuses_other_communities(app: TestApp) {
    let world = app.world().await;
    let seed = seed_community_a(&app, &world).await;

    // Every id the calls use is a record of community A (the arguments take
    // ids only from the seed), and the seed reached every table listed.
    for (label, (table, id)) in &seed.records {
        assert!(
            in_community_a(&app, &world, table, *id).await,
            "seeded `{label}` ({table} {id}) is not a record of community A"
        );
    }
    // Every table holds rows for the comparison to look at: community A's
    // (tables with `community_id`), or any (users, regions, sessions …). A
    // new table fails here until the seed makes a row of it.
    let p1 = placeholder(app.db.get_database_backend(), 1);
    for table in tables(&app).await {
        let scoped = columns(&app, &table)
            .await
            .iter()
            .any(|c| c == "community_id");
        let sql = if scoped {
            format!("SELECT 1 FROM \"{table}\" WHERE community_id = {p1}")
        } else {
            format!("SELECT 1 FROM \"{table}\" WHERE {p1} IS NOT NULL")
        };
        let rows = query_with(&app, &sql, vec![world.community_a.into()]).await;
        assert!(
            !rows.is_empty(),
            "the seed made no row of {table}{}",
            if scoped { " in community A" } else { "" }
        );
    }

    let introspected = app.gql(None, &introspection_query(), json!({})).await;
    let schema_json = introspected.data()["__schema"].clone();
    let schema = Schema {
        types: schema_json["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
            .collect(),
    };
    let unmapped = RefCell::new(BTreeSet::new());
    let mut operations = Vec::new();
    for (keyword, root) in [("query", "queryType"), ("mutation", "mutationType")] {
        for field in schema_json[root]["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            let mut variants = Vec::new();
            for enum_offset in 0..enum_variants(&schema, field) {
                let builder = Builder {
                    schema: &schema,
                    seed: &seed,
                    enum_offset,
                    unmapped: &unmapped,
                };
                variants.extend(calls(&builder, keyword, field));
            }
            if variants.is_empty() {
                continue;
            }
            operations.push(Operation {
                keyword,
                name: name.to_string(),
                public: PUBLIC.iter().find(|(p, _)| *p == name).map(|(_, p)| *p),
                variants,
            });
        }
    }
    let unmapped = unmapped.into_inner();
    assert!(
        unmapped.is_empty(),
        "ID arguments without a seeded record of community A (seed one and add it to ID_ARGS):\n{}",
        unmapped.into_iter().collect::<Vec<_>>().join("\n")
    );
    // 130 today: a floor that notices the schema no longer being read whole.
    assert!(
        operations.len() >= 120,
        "only {} operations take an id",
        operations.len()
    );

    let callers = [
        ("staff of B", world.staff_b.token()),
        ("resident of B", world.resident_b.token()),
        ("anonymous", None),
    ];
    outbox_drained(&app).await;
    let before = snapshot(&app).await;
    let mut failures = Vec::new();
    let mut sent = 0;
    for op in &operations {
        for (who, token) in callers {
            match op.public {
                Some(Public::Everyone) => continue,
                Some(Public::LoggedIn) if token.is_some() => continue,
                _ => {}
            }
            // Every call is refused, or (for some argument values) its
            // input is found wrong before anything is looked up; at least
            // one is refused.
            let mut refused = false;
            for (text, variables) in &op.variants {
                let response = app.gql(token, text, variables.clone()).await;
                sent += 1;
                match response.error_code().as_deref() {
                    Some(code) if REFUSALS.contains(&code) => refused = true,
                    Some("BAD_USER_INPUT") => {}
                    _ => failures.push(format!(
                        "{} as {who}: {}\n  {text}\n  {variables}",
                        op.name, response.body
                    )),
                }
            }
            if !refused {
                failures.push(format!(
                    "{} as {who}: never refused, only BAD_USER_INPUT\n  {:?}",
                    op.name, op.variants[0]
                ));
            }
        }
    }
    let after = snapshot(&app).await;
    let rows: usize = before.values().map(Vec::len).sum();
    eprintln!(
        "{} operations, {sent} calls as B or anonymous; {} ids of community A; {rows} rows in {} tables compared",
        operations.len(),
        seed.records.len(),
        before.len()
    );
    assert!(
        failures.is_empty(),
        "{} calls were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let changed = differences(&before, &after);
    assert!(
        changed.is_empty(),
        "another community's calls changed the database:\n{}",
        changed.join("\n")
    );

    // The refusals came from authorisation, not from ids that name
    // nothing: community A's own people make the same calls and are not
    // told NOT_FOUND. Queries first (they change nothing), then mutations,
    // which may change state; so they run after the comparison above.
    let insiders = [
        ("staff of A", &world.staff_a),
        ("street officer of A", &world.street_admin_a),
        ("resident of A", &world.resident_a),
        ("volunteer of A", &seed.volunteer),
        ("platform administrator", &world.admin),
    ];
    let mut not_real = Vec::new();
    let mut unproven = Vec::new();
    let mut by_whom: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_order: Vec<&Operation> = operations.iter().collect();
    in_order.sort_by_key(|op| {
        (
            op.keyword == "mutation",
            ENDS_STANDING.contains(&op.name.as_str()),
        )
    });
    for op in in_order {
        let mut proven = false;
        for (text, variables) in &op.variants {
            let mut answers = Vec::new();
            for (who, person) in insiders {
                let response = app.gql(person.token(), text, variables.clone()).await;
                let code = response.error_code();
                answers.push((
                    who,
                    code.clone(),
                    response.body["errors"][0]["message"].clone(),
                ));
                if FOUND.contains(&code.as_deref()) {
                    *by_whom
                        .entry(format!("{who}: {}", code.as_deref().unwrap_or("answer")))
                        .or_default() += 1;
                    proven = true;
                    break;
                }
            }
            if answers
                .iter()
                .all(|(_, code, _)| code.as_deref() == Some("NOT_FOUND"))
            {
                not_real.push(format!(
                    "{}: NOT_FOUND for all of community A ({answers:?})\n  {text}\n  {variables}",
                    op.name
                ));
            }
        }
        if !proven {
            unproven.push(format!("{}: {:?}", op.name, op.variants[0]));
        }
    }
    eprintln!(
        "community A's own people found the records of {} of {} operations: {by_whom:?}",
        operations.len() - unproven.len(),
        operations.len()
    );
    assert!(
        not_real.is_empty(),
        "{} calls name no record community A's own people can reach:\n{}",
        not_real.len(),
        not_real.join("\n")
    );
    // The comparison sees a change that keeps every count: these calls
    // changed rows in place (the resident was removed: same membership
    // row, another status).
    let later = snapshot(&app).await;
    assert!(
        differences(&after, &later)
            .iter()
            .any(|d| d.starts_with("membership: new or changed:")),
        "the row comparison did not see community A's own changes"
    );
    assert!(
        unproven.is_empty(),
        "{} operations were not answered past authorisation for any of community A's own people:\n{}",
        unproven.len(),
        unproven.join("\n")
    );
}

backend_tests!(every_operation_refuses_other_communities);
