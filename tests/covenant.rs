//! The community covenant (DESIGN §5): the lifecycle with every refused move,
//! one version in force (also under concurrency), comments, comparison,
//! pledges and coverage, filing, ratings, awards, public reading.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::service::covenant as service;
use linli::{TestApp, World, backend_tests};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

const DRAFT: &str = "mutation($c: ID!, $a: [ArticleInput!]!) { draftCovenant(communityId: $c, articles: $a) { id number status articles { id position chapter title body } } }";
const OPEN_COMMENT: &str = "mutation($v: ID!, $u: DateTime!) { openCovenantComment(versionId: $v, until: $u) { id status commentUntil } }";
const COVENANT: &str = "query($c: ID!) { covenant(communityId: $c) { id pledgeCount householdCoverage pledgedByMe inForce { id number status articles { chapter title body } } versions { number status } } }";

fn articles_v1() -> Value {
    json!([
        {"chapter": "第一章 总则", "title": "宗旨", "body": "为建设和谐社区，制定本公约。"},
        {"chapter": "第二章 环境", "title": "垃圾分类", "body": "居民应当按时按类投放生活垃圾。"},
        {"chapter": "第二章 环境", "title": "楼道", "body": "不在楼道堆放杂物。"},
    ])
}

fn articles_v2() -> Value {
    json!([
        {"chapter": "第一章 总则", "title": "宗旨", "body": "为建设和谐社区，制定本公约。"},
        {"chapter": "第二章 环境", "title": "垃圾分类", "body": "居民应当按时按类投放生活垃圾，不乱扔垃圾。"},
        {"chapter": "第三章 邻里", "title": "互助", "body": "邻里之间互相帮助。"},
    ])
}

fn in_the_future() -> String {
    (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339()
}

/// Ends a version's comment period now (time passes in tests by SQL).
async fn end_comment_period(app: &TestApp, version: &str) {
    let backend = app.db.get_database_backend();
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "UPDATE covenant_version SET comment_until = $1 WHERE id = $2"
                }
                _ => "UPDATE covenant_version SET comment_until = ? WHERE id = ?",
            },
            [past.into(), Uuid::parse_str(version).unwrap().into()],
        ))
        .await
        .unwrap();
}

async fn status_of(app: &TestApp, world: &World, version: &str) -> String {
    let r = app
        .gql(
            world.staff_a.token(),
            "query($v: ID!) { covenantVersion(id: $v) { status } }",
            json!({"v": version}),
        )
        .await;
    r.data()["covenantVersion"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Takes a version from draft to a passed or failed vote, as the ballot
/// would (the consultation domain calls these two on open and on close).
async fn decide(app: &TestApp, world: &World, version: &str, passed: bool) -> Result<(), String> {
    let v = Uuid::parse_str(version).unwrap();
    service::begin_vote(
        &app.db,
        v,
        world.community_a,
        Uuid::now_v7(),
        world.staff_a.id,
    )
    .await
    .map_err(|e| format!("{:?}", e.code()))?;
    let txn = api::db::begin_write(&app.db).await.unwrap();
    let result = service::conclude_vote(&txn, v, passed, None).await;
    match result {
        Ok(_) => {
            txn.commit().await.unwrap();
            Ok(())
        }
        Err(e) => Err(format!("{:?}", e.code())),
    }
}

async fn draft_to_comment(app: &TestApp, world: &World, articles: Value) -> String {
    let drafted = app
        .gql(
            world.staff_a.token(),
            DRAFT,
            json!({"c": world.community_a, "a": articles}),
        )
        .await;
    let id = drafted.data()["draftCovenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        world.staff_a.token(),
        OPEN_COMMENT,
        json!({"v": id, "u": in_the_future()}),
    )
    .await
    .data();
    id
}

async fn lifecycle_and_refused_moves(app: TestApp) {
    let world = app.world().await;
    let staff = world.staff_a.token();
    let drafted = app
        .gql(
            staff,
            DRAFT,
            json!({"c": world.community_a, "a": articles_v1()}),
        )
        .await;
    let v1 = drafted.data()["draftCovenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(drafted.data()["draftCovenant"]["number"], 1);
    assert_eq!(drafted.data()["draftCovenant"]["status"], "DRAFT");
    assert_eq!(
        drafted.data()["draftCovenant"]["articles"][1]["position"],
        2
    );

    // A second version while one is in progress: refused.
    app.gql(
        staff,
        DRAFT,
        json!({"c": world.community_a, "a": articles_v2()}),
    )
    .await
    .expect_error("CONFLICT");
    // A draft is editable.
    let edit = "mutation($v: ID!, $a: [ArticleInput!]!) { updateCovenantDraft(versionId: $v, articles: $a) { articles { title } } }";
    let edited = app
        .gql(staff, edit, json!({"v": v1, "a": articles_v1()}))
        .await;
    assert_eq!(
        edited.data()["updateCovenantDraft"]["articles"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // A vote cannot start on a draft.
    assert_eq!(
        decide(&app, &world, &v1, true).await,
        Err("InvalidState".into())
    );
    // Comment opens; the period must lie ahead.
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let bad = app
        .gql(staff, OPEN_COMMENT, json!({"v": v1, "u": past}))
        .await;
    assert_eq!(
        bad.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "until"
    );
    let opened = app
        .gql(staff, OPEN_COMMENT, json!({"v": v1, "u": in_the_future()}))
        .await;
    assert_eq!(opened.data()["openCovenantComment"]["status"], "IN_COMMENT");
    // Nothing but a draft is editable, and comment opens once.
    app.gql(staff, edit, json!({"v": v1, "a": articles_v1()}))
        .await
        .expect_error("INVALID_STATE");
    app.gql(staff, OPEN_COMMENT, json!({"v": v1, "u": in_the_future()}))
        .await
        .expect_error("INVALID_STATE");
    // The vote waits for the comment period to end.
    let v = Uuid::parse_str(&v1).unwrap();
    let early = service::begin_vote(
        &app.db,
        v,
        world.community_a,
        Uuid::now_v7(),
        world.staff_a.id,
    )
    .await;
    assert_eq!(
        early.err().map(|e| e.code()),
        Some(api::error::ErrorCode::InvalidState)
    );
    end_comment_period(&app, &v1).await;
    // Passing puts it in force.
    decide(&app, &world, &v1, true).await.unwrap();
    assert_eq!(status_of(&app, &world, &v1).await, "IN_FORCE");
    // A vote cannot be concluded twice.
    let txn = api::db::begin_write(&app.db).await.unwrap();
    let twice = service::conclude_vote(&txn, v, true, None).await;
    assert_eq!(
        twice.err().map(|e| e.code()),
        Some(api::error::ErrorCode::InvalidState)
    );
    drop(txn);

    // A revision: the old version is superseded in the same step.
    let v2 = draft_to_comment(&app, &world, articles_v2()).await;
    end_comment_period(&app, &v2).await;
    decide(&app, &world, &v2, true).await.unwrap();
    assert_eq!(status_of(&app, &world, &v1).await, "SUPERSEDED");
    assert_eq!(status_of(&app, &world, &v2).await, "IN_FORCE");
    // A failed vote leaves the version in force alone.
    let v3 = draft_to_comment(&app, &world, articles_v1()).await;
    end_comment_period(&app, &v3).await;
    decide(&app, &world, &v3, false).await.unwrap();
    assert_eq!(status_of(&app, &world, &v3).await, "REJECTED");
    assert_eq!(status_of(&app, &world, &v2).await, "IN_FORCE");
    let covenant = app
        .gql(
            world.resident_a.token(),
            COVENANT,
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(covenant.data()["covenant"]["inForce"]["number"], 2);
    assert_eq!(
        covenant.data()["covenant"]["versions"],
        json!([{"number": 1, "status": "SUPERSEDED"}, {"number": 2, "status": "IN_FORCE"}, {"number": 3, "status": "REJECTED"}])
    );
    // Every move audited.
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'covenant_version'")
            .await
            >= 12
    );
}

async fn bad_drafts_write_nothing(app: TestApp) {
    let world = app.world().await;
    let staff = world.staff_a.token();
    let cases = [
        (json!([]), "articles"),
        (
            json!([{"chapter": "", "title": "t", "body": "b"}]),
            "chapter",
        ),
        (
            json!([{"chapter": "c", "title": " ", "body": "b"}]),
            "title",
        ),
        (json!([{"chapter": "c", "title": "t", "body": ""}]), "body"),
    ];
    for (articles, field) in cases {
        let r = app
            .gql(staff, DRAFT, json!({"c": world.community_a, "a": articles}))
            .await;
        assert_eq!(
            r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
            field
        );
    }
    let too_many: Vec<Value> = (0..201)
        .map(|i| json!({"chapter": "c", "title": format!("t{i}"), "body": "b"}))
        .collect();
    app.gql(staff, DRAFT, json!({"c": world.community_a, "a": too_many}))
        .await
        .expect_error("BAD_USER_INPUT");
    assert_eq!(app.count("SELECT COUNT(*) FROM covenant_version").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM covenant").await, 0);
}

async fn one_version_in_force_even_when_two_are_adopted_at_once(app: TestApp) {
    let world = app.world().await;
    let v1 = draft_to_comment(&app, &world, articles_v1()).await;
    end_comment_period(&app, &v1).await;
    decide(&app, &world, &v1, true).await.unwrap();
    // Two versions reach a vote. The API keeps one version in progress at a
    // time, so the second is put there directly, as a race or a bug might.
    let v2 = draft_to_comment(&app, &world, articles_v2()).await;
    end_comment_period(&app, &v2).await;
    let b2 = Uuid::parse_str(&v2).unwrap();
    service::begin_vote(
        &app.db,
        b2,
        world.community_a,
        Uuid::now_v7(),
        world.staff_a.id,
    )
    .await
    .unwrap();
    let first = entity::covenant::covenant_version::Entity::find_by_id(b2)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let b3 = Uuid::now_v7();
    let mut second = first.into_active_model().reset_all();
    second.id = Set(b3);
    second.number = Set(3);
    second.insert(&app.db).await.unwrap();
    let conclude = |version: Uuid| {
        let db = app.db.clone();
        async move {
            let txn = api::db::begin_write(&db).await.unwrap();
            match service::conclude_vote(&txn, version, true, None).await {
                Ok(_) => txn.commit().await.is_ok(),
                Err(_) => false,
            }
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(conclude(b2)), tokio::spawn(conclude(b3)));
    assert!(
        a.unwrap() && b.unwrap(),
        "both adoptions go through, one after the other"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM covenant_version WHERE status = 'IN_FORCE'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM covenant_version WHERE status = 'SUPERSEDED'")
            .await,
        2
    );
    // And the database itself refuses a second version in force.
    let sneak = app
        .db
        .execute_unprepared(&format!(
            "UPDATE covenant_version SET status = 'IN_FORCE' WHERE status = 'SUPERSEDED' AND number = 1 AND community_id {}",
            match app.db.get_database_backend() {
                sea_orm::DbBackend::Postgres => format!("= '{}'", world.community_a),
                _ => format!("= X'{}'", world.community_a.simple()),
            }
        ))
        .await;
    assert!(sneak.is_err(), "the partial unique index holds");
}

async fn comments_on_articles_and_replies(app: TestApp) {
    let world = app.world().await;
    let drafted = app
        .gql(
            world.staff_a.token(),
            DRAFT,
            json!({"c": world.community_a, "a": articles_v1()}),
        )
        .await;
    let v = drafted.data()["draftCovenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let article = drafted.data()["draftCovenant"]["articles"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let comment = "mutation($v: ID!, $a: ID, $b: String!) { commentCovenant(versionId: $v, articleId: $a, body: $b) { id articleId } }";
    // Not before comment opens.
    app.gql(
        world.resident_a.token(),
        comment,
        json!({"v": v, "a": article, "b": "建议"}),
    )
    .await
    .expect_error("INVALID_STATE");
    app.gql(
        world.staff_a.token(),
        OPEN_COMMENT,
        json!({"v": v, "u": in_the_future()}),
    )
    .await
    .data();
    let c1 = app
        .gql(
            world.resident_a.token(),
            comment,
            json!({"v": v, "a": article, "b": "建议增加厨余垃圾的投放时间"}),
        )
        .await;
    let c1 = c1.data()["commentCovenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        world.resident_a.token(),
        comment,
        json!({"v": v, "a": article, "b": "再补充一点"}),
    )
    .await
    .data();
    app.gql(
        world.resident_a.token(),
        comment,
        json!({"v": v, "b": "整体很好"}),
    )
    .await
    .data();
    // Wrong article, empty body, wrong community, wrong role.
    let r = app
        .gql(
            world.resident_a.token(),
            comment,
            json!({"v": v, "a": Uuid::now_v7(), "b": "x"}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "articleId"
    );
    let r = app
        .gql(
            world.resident_a.token(),
            comment,
            json!({"v": v, "b": "  "}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "body"
    );
    app.gql(
        world.resident_b.token(),
        comment,
        json!({"v": v, "b": "外人"}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.grid_a.token(),
        comment,
        json!({"v": v, "b": "网格员不是居民角色"}),
    )
    .await
    .expect_error("FORBIDDEN");
    // Staff reply; residents cannot.
    let reply = "mutation($c: ID!, $b: String!) { replyCovenantComment(commentId: $c, body: $b) { id replyTo articleId } }";
    let r = app
        .gql(
            world.staff_a.token(),
            reply,
            json!({"c": c1, "b": "已采纳"}),
        )
        .await;
    assert_eq!(r.data()["replyCovenantComment"]["replyTo"], c1.as_str());
    assert_eq!(
        r.data()["replyCovenantComment"]["articleId"],
        article.as_str()
    );
    app.gql(
        world.resident_a.token(),
        reply,
        json!({"c": c1, "b": "我也回复"}),
    )
    .await
    .expect_error("FORBIDDEN");
    // Counts per article, and the list.
    let read = app
        .gql(
            world.resident_a.token(),
            "query($v: ID!) { covenantVersion(id: $v) { articles { title commentCount } } }",
            json!({"v": v}),
        )
        .await;
    let counts: Vec<i64> = read.data()["covenantVersion"]["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["commentCount"].as_i64().unwrap())
        .collect();
    assert_eq!(
        counts,
        vec![0, 3, 0],
        "two comments and the staff reply on the second article"
    );
    let list = app
        .gql(world.grid_a.token(), "query($v: ID!) { covenantComments(versionId: $v, first: 10) { totalCount edges { node { body author { displayName } } } } }", json!({"v": v}))
        .await;
    assert_eq!(list.data()["covenantComments"]["totalCount"], 4);
    app.gql(
        world.resident_b.token(),
        "query($v: ID!) { covenantComments(versionId: $v) { totalCount } }",
        json!({"v": v}),
    )
    .await
    .expect_error("FORBIDDEN");
    // After the period, comments close.
    end_comment_period(&app, &v).await;
    app.gql(
        world.resident_a.token(),
        comment,
        json!({"v": v, "b": "太晚了"}),
    )
    .await
    .expect_error("INVALID_STATE");
}

async fn compare_versions_article_by_article(app: TestApp) {
    let world = app.world().await;
    let v1 = draft_to_comment(&app, &world, articles_v1()).await;
    end_comment_period(&app, &v1).await;
    decide(&app, &world, &v1, true).await.unwrap();
    let v2 = draft_to_comment(&app, &world, articles_v2()).await;
    let q = "query($a: ID!, $b: ID!) { compareCovenantVersions(fromVersionId: $a, toVersionId: $b) { kind before { title } after { title } bodyDiff { kind text } } }";
    let r = app
        .gql(world.resident_a.token(), q, json!({"a": v1, "b": v2}))
        .await;
    let changes = r.data()["compareCovenantVersions"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["UNCHANGED", "CHANGED", "ADDED", "REMOVED"]);
    assert_eq!(changes[3]["before"]["title"], "楼道");
    assert_eq!(
        changes[1]["bodyDiff"],
        json!([{"kind": "SAME", "text": "居民应当按时按类投放生活垃圾"}, {"kind": "ADDED", "text": "，不乱扔垃圾"}, {"kind": "SAME", "text": "。"}])
    );
    // An outsider sees only the version in force: the draft in comment is hidden.
    app.gql(world.resident_b.token(), q, json!({"a": v1, "b": v2}))
        .await
        .expect_error("NOT_FOUND");
}

async fn pledges_and_household_coverage(app: TestApp) {
    let world = app.world().await;
    let pledge = "mutation($c: ID!) { pledgeCovenant(communityId: $c) { pledgeCount householdCoverage pledgedByMe } }";
    // Nothing in force yet.
    app.gql(
        world.resident_a.token(),
        pledge,
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("INVALID_STATE");
    let v1 = draft_to_comment(&app, &world, articles_v1()).await;
    end_comment_period(&app, &v1).await;
    decide(&app, &world, &v1, true).await.unwrap();
    // Households with active members: staff_a, resident_a, grid_a each in their own room.
    let r = app
        .gql(
            world.resident_a.token(),
            pledge,
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(r.data()["pledgeCovenant"]["pledgeCount"], 1);
    assert_eq!(r.data()["pledgeCovenant"]["pledgedByMe"], true);
    let coverage = r.data()["pledgeCovenant"]["householdCoverage"]
        .as_f64()
        .unwrap();
    assert!((coverage - 1.0 / 3.0).abs() < 1e-9, "{coverage}");
    // Once per version.
    app.gql(
        world.resident_a.token(),
        pledge,
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("CONFLICT");
    // Not for another community's residents, nor anonymously.
    app.gql(
        world.resident_b.token(),
        pledge,
        json!({"c": world.community_a}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(None, pledge, json!({"c": world.community_a}))
        .await
        .expect_error("UNAUTHENTICATED");
    // Staff see who has not pledged, by building.
    let q =
        "query($c: ID!) { unpledgedHouseholds(communityId: $c) { building households { room } } }";
    let gaps = app
        .gql(world.staff_a.token(), q, json!({"c": world.community_a}))
        .await;
    let rooms: usize = gaps.data()["unpledgedHouseholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["households"].as_array().unwrap().len())
        .sum();
    assert_eq!(rooms, 2);
    app.gql(world.resident_a.token(), q, json!({"c": world.community_a}))
        .await
        .expect_error("FORBIDDEN");
    // Concurrent pledges by one resident: exactly one lands.
    let attempts = (0..6).map(|_| {
        app.gql(
            world.staff_a.token(),
            pledge,
            json!({"c": world.community_a}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.error_code().is_none()).count(),
        1
    );
    // A new version in force starts a new round; the old pledges stay on record.
    let v2 = draft_to_comment(&app, &world, articles_v2()).await;
    end_comment_period(&app, &v2).await;
    decide(&app, &world, &v2, true).await.unwrap();
    let c = app
        .gql(
            world.resident_a.token(),
            COVENANT,
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(c.data()["covenant"]["pledgeCount"], 0);
    assert_eq!(c.data()["covenant"]["pledgedByMe"], false);
    assert_eq!(app.count("SELECT COUNT(*) FROM covenant_pledge").await, 2);
    app.gql(
        world.resident_a.token(),
        pledge,
        json!({"c": world.community_a}),
    )
    .await
    .data();
}

async fn public_reading_shows_only_the_version_in_force(app: TestApp) {
    let world = app.world().await;
    let v1 = draft_to_comment(&app, &world, articles_v1()).await;
    end_comment_period(&app, &v1).await;
    decide(&app, &world, &v1, true).await.unwrap();
    draft_to_comment(&app, &world, articles_v2()).await;
    let anonymous = app
        .gql(None, COVENANT, json!({"c": world.community_a}))
        .await;
    assert_eq!(
        anonymous.data()["covenant"]["inForce"]["articles"][0]["title"],
        "宗旨"
    );
    assert_eq!(
        anonymous.data()["covenant"]["versions"],
        json!([{"number": 1, "status": "IN_FORCE"}])
    );
    let member = app
        .gql(
            world.grid_a.token(),
            COVENANT,
            json!({"c": world.community_a}),
        )
        .await;
    assert_eq!(
        member.data()["covenant"]["versions"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "members read the history"
    );
    // Another community has no covenant yet.
    let none = app
        .gql(None, COVENANT, json!({"c": world.community_b}))
        .await;
    assert_eq!(none.data()["covenant"], Value::Null);
}

async fn filing_ratings_awards_and_the_region_view(app: TestApp) {
    let world = app.world().await;
    let v1 = draft_to_comment(&app, &world, articles_v1()).await;
    let file = "mutation($v: ID!, $d: NaiveDate) { fileCovenant(versionId: $v, filedOn: $d) { filing { filedOn } } }";
    // Not before it is in force.
    app.gql(world.street_admin_a.token(), file, json!({"v": v1}))
        .await
        .expect_error("INVALID_STATE");
    end_comment_period(&app, &v1).await;
    decide(&app, &world, &v1, true).await.unwrap();
    app.gql(world.staff_a.token(), file, json!({"v": v1}))
        .await
        .expect_error("FORBIDDEN");
    app.gql(world.street_admin_b.token(), file, json!({"v": v1}))
        .await
        .expect_error("FORBIDDEN");
    let future = (chrono::Utc::now() + chrono::Duration::days(3))
        .date_naive()
        .to_string();
    let r = app
        .gql(
            world.street_admin_a.token(),
            file,
            json!({"v": v1, "d": future}),
        )
        .await;
    assert_eq!(
        r.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "filedOn"
    );
    let filed = app
        .gql(
            world.street_admin_a.token(),
            file,
            json!({"v": v1, "d": "2026-11-01"}),
        )
        .await;
    assert_eq!(
        filed.data()["fileCovenant"]["filing"]["filedOn"],
        "2026-11-01"
    );
    app.gql(world.street_admin_a.token(), file, json!({"v": v1}))
        .await
        .expect_error("CONFLICT");

    let rate = "mutation($v: ID!, $s: Int!) { rateCovenant(versionId: $v, score: $s, comment: \"条理清楚\") { score } }";
    app.gql(
        world.street_admin_a.token(),
        rate,
        json!({"v": v1, "s": 101}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    app.gql(
        world.street_admin_a.token(),
        rate,
        json!({"v": v1, "s": 80}),
    )
    .await
    .data();
    app.gql(
        world.street_admin_a.token(),
        rate,
        json!({"v": v1, "s": 90}),
    )
    .await
    .data();
    app.gql(world.admin.token(), rate, json!({"v": v1, "s": 70}))
        .await
        .data();
    app.gql(world.resident_a.token(), rate, json!({"v": v1, "s": 100}))
        .await
        .expect_error("FORBIDDEN");
    let avg = app
        .gql(
            world.resident_a.token(),
            "query($v: ID!) { covenantVersion(id: $v) { averageRating ratingCount } }",
            json!({"v": v1}),
        )
        .await;
    assert_eq!(
        avg.data()["covenantVersion"]["averageRating"],
        80.0,
        "(90 + 70) / 2: a second rating replaces the first"
    );
    assert_eq!(avg.data()["covenantVersion"]["ratingCount"], 2);

    let covenant_id = app
        .gql(None, COVENANT, json!({"c": world.community_a}))
        .await
        .data()["covenant"]["id"]
        .clone();
    let award = "mutation($c: ID!, $y: Int!) { awardCovenant(covenantId: $c, year: $y) { year region { kind } } }";
    let given = app
        .gql(
            world.street_admin_a.token(),
            award,
            json!({"c": covenant_id, "y": 2026}),
        )
        .await;
    assert_eq!(given.data()["awardCovenant"]["region"]["kind"], "STREET");
    app.gql(
        world.street_admin_a.token(),
        award,
        json!({"c": covenant_id, "y": 2026}),
    )
    .await
    .expect_error("CONFLICT");
    app.gql(
        world.street_admin_a.token(),
        award,
        json!({"c": covenant_id, "y": 1999}),
    )
    .await
    .expect_error("BAD_USER_INPUT");
    app.gql(
        world.street_admin_b.token(),
        award,
        json!({"c": covenant_id, "y": 2026}),
    )
    .await
    .expect_error("FORBIDDEN");

    // The district sees both communities side by side; a street sees its own.
    let view = "query($r: ID!) { regionCovenants(regionId: $r) { totalCount edges { node { community { name } status inForceNumber householdCoverage filedOn awardYears } } } }";
    let district = app
        .gql(world.admin.token(), view, json!({"r": world.district}))
        .await;
    assert_eq!(district.data()["regionCovenants"]["totalCount"], 2);
    let street = app
        .gql(
            world.street_admin_a.token(),
            view,
            json!({"r": world.street_a}),
        )
        .await;
    let row = &street.data()["regionCovenants"]["edges"][0]["node"];
    assert_eq!(row["status"], "IN_FORCE");
    assert_eq!(row["inForceNumber"], 1);
    assert_eq!(row["filedOn"], "2026-11-01");
    assert_eq!(row["awardYears"], json!([2026]));
    app.gql(
        world.street_admin_b.token(),
        view,
        json!({"r": world.street_a}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(world.staff_a.token(), view, json!({"r": world.street_a}))
        .await
        .expect_error("FORBIDDEN");
}

async fn only_staff_of_the_community_draft(app: TestApp) {
    let world = app.world().await;
    for (token, code) in [
        (world.resident_a.token(), "FORBIDDEN"),
        (world.staff_b.token(), "FORBIDDEN"),
        (world.street_admin_a.token(), "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ] {
        app.gql(
            token,
            DRAFT,
            json!({"c": world.community_a, "a": articles_v1()}),
        )
        .await
        .expect_error(code);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM covenant_version").await, 0);
}

const OPEN_BALLOT: &str = "mutation($v: ID!, $e: Electorate!, $c: DateTime!) { openBallot(covenantVersionId: $v, electorate: $e, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, closesAt: $c) { id status electorateSize } }";

/// The real path: staff open a ballot on the version, residents vote, staff
/// close it, and the version comes into force (or is rejected).
async fn adoption_by_the_community_s_ballot(app: TestApp) {
    let world = app.world().await;
    let staff = world.staff_a.token();
    let closes = in_the_future();
    let v1 = draft_to_comment(&app, &world, articles_v1()).await;
    // Not while residents may still comment; never by a council alone.
    app.gql(
        staff,
        OPEN_BALLOT,
        json!({"v": v1, "e": "RESIDENTS", "c": closes}),
    )
    .await
    .expect_error("INVALID_STATE");
    end_comment_period(&app, &v1).await;
    let council = app
        .gql(
            staff,
            OPEN_BALLOT,
            json!({"v": v1, "e": "COUNCIL", "c": closes}),
        )
        .await;
    assert_eq!(
        council.expect_error("BAD_USER_INPUT")["extensions"]["field"],
        "electorate"
    );
    app.gql(
        world.resident_a.token(),
        OPEN_BALLOT,
        json!({"v": v1, "e": "RESIDENTS", "c": closes}),
    )
    .await
    .expect_error("FORBIDDEN");
    app.gql(
        world.staff_b.token(),
        OPEN_BALLOT,
        json!({"v": v1, "e": "RESIDENTS", "c": closes}),
    )
    .await
    .expect_error("NOT_FOUND");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ballot").await,
        0,
        "refusals write nothing"
    );

    let opened = app
        .gql(
            staff,
            OPEN_BALLOT,
            json!({"v": v1, "e": "RESIDENTS", "c": closes}),
        )
        .await;
    let ballot = opened.data()["openBallot"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        opened.data()["openBallot"]["electorateSize"],
        2,
        "staff_a and resident_a are residents"
    );
    assert_eq!(status_of(&app, &world, &v1).await, "VOTING");
    let version = app
        .gql(
            staff,
            "query($v: ID!) { covenantVersion(id: $v) { ballotId } }",
            json!({"v": v1}),
        )
        .await;
    assert_eq!(
        version.data()["covenantVersion"]["ballotId"],
        ballot.as_str()
    );
    // A second ballot on the same version is refused.
    app.gql(
        staff,
        OPEN_BALLOT,
        json!({"v": v1, "e": "RESIDENTS", "c": closes}),
    )
    .await
    .expect_error("CONFLICT");

    let vote = "mutation($b: ID!, $c: Choice!) { castVote(ballotId: $b, choice: $c) { tally { turnout } } }";
    app.gql(
        world.resident_a.token(),
        vote,
        json!({"b": ballot, "c": "FOR"}),
    )
    .await
    .data();
    app.gql(staff, vote, json!({"b": ballot, "c": "FOR"}))
        .await
        .data();
    let closed = app
        .gql(
            staff,
            "mutation($b: ID!) { closeBallot(ballotId: $b) { status passed } }",
            json!({"b": ballot}),
        )
        .await;
    assert_eq!(closed.data()["closeBallot"]["passed"], true);
    assert_eq!(status_of(&app, &world, &v1).await, "IN_FORCE");

    // A revision the community votes down leaves version 1 in force.
    let v2 = draft_to_comment(&app, &world, articles_v2()).await;
    end_comment_period(&app, &v2).await;
    let opened = app
        .gql(
            staff,
            OPEN_BALLOT,
            json!({"v": v2, "e": "HOUSEHOLDS", "c": closes}),
        )
        .await;
    let ballot = opened.data()["openBallot"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        world.resident_a.token(),
        vote,
        json!({"b": ballot, "c": "AGAINST"}),
    )
    .await
    .data();
    let closed = app
        .gql(
            staff,
            "mutation($b: ID!) { closeBallot(ballotId: $b) { passed } }",
            json!({"b": ballot}),
        )
        .await;
    assert_eq!(closed.data()["closeBallot"]["passed"], false);
    assert_eq!(status_of(&app, &world, &v2).await, "REJECTED");
    assert_eq!(status_of(&app, &world, &v1).await, "IN_FORCE");
}

backend_tests!(
    adoption_by_the_community_s_ballot,
    lifecycle_and_refused_moves,
    bad_drafts_write_nothing,
    one_version_in_force_even_when_two_are_adopted_at_once,
    comments_on_articles_and_replies,
    compare_versions_article_by_article,
    pledges_and_household_coverage,
    public_reading_shows_only_the_version_in_force,
    filing_ratings_awards_and_the_region_view,
    only_staff_of_the_community_draft,
);
