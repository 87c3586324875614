//! Who may call what: every operation against every kind of caller, as
//! DESIGN §2 and §7 say. Later domains add their rows to `cases`.
//!
//! Callers: anonymous, a resident of another community, a resident, staff,
//! a grid worker, the street admin of another street, the street admin above,
//! and the platform administrator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use linli::{TestApp, World, backend_tests};
use serde_json::{Value, json};

use crate::credits_support;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    OtherCommunityResident,
    Resident,
    GridWorker,
    Staff,
    OtherStreetAdmin,
    StreetAdmin,
    PlatformAdmin,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::OtherCommunityResident,
    Caller::Resident,
    Caller::GridWorker,
    Caller::Staff,
    Caller::OtherStreetAdmin,
    Caller::StreetAdmin,
    Caller::PlatformAdmin,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed,
    /// FORBIDDEN (or NOT_FOUND, which hides that the record exists).
    Denied,
    Unauthenticated,
}

fn token(world: &World, caller: Caller) -> Option<&str> {
    match caller {
        Caller::Anonymous => None,
        Caller::OtherCommunityResident => world.resident_b.token(),
        Caller::Resident => world.resident_a.token(),
        Caller::GridWorker => world.grid_a.token(),
        Caller::Staff => world.staff_a.token(),
        Caller::OtherStreetAdmin => world.street_admin_b.token(),
        Caller::StreetAdmin => world.street_admin_a.token(),
        Caller::PlatformAdmin => world.admin.token(),
    }
}

fn person(world: &World, caller: Caller) -> Option<&linli::world::Person> {
    match caller {
        Caller::Anonymous => None,
        Caller::OtherCommunityResident => Some(&world.resident_b),
        Caller::Resident => Some(&world.resident_a),
        Caller::GridWorker => Some(&world.grid_a),
        Caller::Staff => Some(&world.staff_a),
        Caller::OtherStreetAdmin => Some(&world.street_admin_b),
        Caller::StreetAdmin => Some(&world.street_admin_a),
        Caller::PlatformAdmin => Some(&world.admin),
    }
}

/// Staff cancel the redemptions of `user_id` still waiting (which refunds
/// them), then the platform administrator adjusts every account of theirs
/// down to zero.
async fn spend_all_points(app: &TestApp, world: &World, user_id: uuid::Uuid) {
    use entity::credits::point_account;
    use entity::credits::redemption::{self, RedemptionStatus};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let reserved = redemption::Entity::find()
        .filter(redemption::Column::UserId.eq(user_id))
        .filter(redemption::Column::Status.eq(RedemptionStatus::Reserved))
        .all(&app.db)
        .await
        .unwrap();
    for r in reserved {
        app.gql(
            world.admin.token(),
            "mutation($r: ID!) { cancelRedemption(redemptionId: $r) { id } }",
            json!({"r": r.id}),
        )
        .await
        .data();
    }
    let accounts = point_account::Entity::find()
        .filter(point_account::Column::OwnerId.eq(user_id))
        .filter(point_account::Column::Balance.gt(0))
        .all(&app.db)
        .await
        .unwrap();
    for account in accounts {
        app.gql(
            world.admin.token(),
            credits_support::ADJUST,
            json!({"a": account.id, "amount": -account.balance, "reason": "注销前清零",
                   "key": uuid::Uuid::now_v7().to_string()}),
        )
        .await
        .data();
    }
}

/// One operation: how to make its request (it may create what it needs
/// first) and who is allowed.
struct Case {
    name: &'static str,
    allowed: &'static [Caller],
    /// Callers that are neither allowed nor denied, but must log in.
    needs_login_only: bool,
}

const EVERYONE_LOGGED_IN: &[Caller] = &[
    Caller::OtherCommunityResident,
    Caller::Resident,
    Caller::GridWorker,
    Caller::Staff,
    Caller::OtherStreetAdmin,
    Caller::StreetAdmin,
    Caller::PlatformAdmin,
];

fn cases() -> Vec<Case> {
    use Caller::*;
    vec![
        Case {
            name: "members",
            allowed: &[GridWorker, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "approveMembership",
            allowed: &[Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "approveMembershipAsStaff",
            allowed: &[StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "rejectMembership",
            allowed: &[Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "setMemberRoles",
            allowed: &[Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "removeMember",
            allowed: &[Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createStreet",
            allowed: &[PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createCommunity",
            allowed: &[StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createDistrict",
            allowed: &[PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "appointStreetAdmin",
            allowed: &[PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "appointObserver",
            allowed: &[StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "joinCommunity",
            allowed: EVERYONE_LOGGED_IN,
            needs_login_only: true,
        },
        Case {
            name: "updateProfile",
            allowed: EVERYONE_LOGGED_IN,
            needs_login_only: true,
        },
        // ---------- time credits ----------
        Case {
            name: "myAccount",
            allowed: CREDIT_MEMBERS,
            needs_login_only: false,
        },
        Case {
            name: "creditSettings",
            allowed: CREDIT_READERS,
            needs_login_only: false,
        },
        Case {
            name: "updateCreditSettings",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "postingsOfResident",
            allowed: &[Resident, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "leaderboard",
            allowed: CREDIT_READERS,
            needs_login_only: false,
        },
        Case {
            name: "activities",
            allowed: CREDIT_READERS,
            needs_login_only: false,
        },
        Case {
            name: "transferPoints",
            allowed: CREDIT_MEMBERS,
            needs_login_only: false,
        },
        Case {
            name: "adjustPoints",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "reversePosting",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "expirePoints",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createActivity",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        // Nobody in the table holds the VOLUNTEER role.
        Case {
            name: "signUpActivity",
            allowed: &[],
            needs_login_only: false,
        },
        Case {
            name: "confirmService",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createCatalogItem",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "redeem",
            allowed: CREDIT_MEMBERS,
            needs_login_only: false,
        },
        Case {
            name: "cancelRedemptionOfResident",
            allowed: &[Resident, Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createVolunteerTeam",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "volunteers",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "serviceRecordOfResident",
            allowed: &[Resident, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        // ---------- covenant ----------
        Case {
            name: "unpledgedHouseholds",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "regionCovenants",
            allowed: &[StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "draftCovenant",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        // ---------- consultation ----------
        Case {
            name: "proposals",
            allowed: &[Resident, GridWorker, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "ballotResults",
            allowed: &[Resident, GridWorker, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "submitProposal",
            allowed: &[Resident, Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "secondProposal",
            allowed: &[Resident, Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "acceptProposal",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "rejectProposal",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "createCouncil",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "updateConsultationSettings",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "openBallot",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "recordPaperVote",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "closeBallot",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "ballot",
            allowed: &[Resident, GridWorker, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "meetings",
            allowed: &[Resident, GridWorker, Staff, StreetAdmin, PlatformAdmin],
            needs_login_only: false,
        },
        Case {
            name: "scheduleMeeting",
            allowed: &[Staff, PlatformAdmin],
            needs_login_only: false,
        },
    ]
    .into_iter()
    .chain(lists_cases())
    .chain(privacy_cases())
    .collect()
}

// ---------- personal data ----------

/// Each person's own data: every logged-in caller may export theirs and
/// erase their account; nobody can name someone else. Erasure comes last of
/// all the cases: each caller of the world erases themself.
fn privacy_cases() -> Vec<Case> {
    vec![
        Case {
            name: "myData",
            allowed: EVERYONE_LOGGED_IN,
            needs_login_only: true,
        },
        Case {
            name: "deleteMyAccount",
            allowed: EVERYONE_LOGGED_IN,
            needs_login_only: true,
        },
    ]
}

// ---------- three lists ----------

fn lists_cases() -> Vec<Case> {
    use Caller::*;
    let case = |name, allowed| Case {
        name,
        allowed,
        needs_login_only: false,
    };
    const VIEWERS: &[Caller] = &[Resident, GridWorker, Staff, StreetAdmin, PlatformAdmin];
    const MEMBERS: &[Caller] = &[Resident, GridWorker, Staff, PlatformAdmin];
    const STAFF: &[Caller] = &[Staff, PlatformAdmin];
    const STREET: &[Caller] = &[StreetAdmin, PlatformAdmin];
    vec![
        case("resources", VIEWERS),
        case("createResource", MEMBERS),
        case("withdrawResource", &[Staff, StreetAdmin, PlatformAdmin]),
        case("needs", VIEWERS),
        case("need", VIEWERS),
        case("submitNeed", MEMBERS),
        case("submitNeedOnBehalf", &[GridWorker, Staff, PlatformAdmin]),
        case("needQueue", &[GridWorker, Staff, PlatformAdmin]),
        case("reviewNeed", STAFF),
        case(
            "matchSuggestions",
            &[GridWorker, Staff, StreetAdmin, PlatformAdmin],
        ),
        case(
            "needsForResource",
            &[GridWorker, Staff, StreetAdmin, PlatformAdmin],
        ),
        case("confirmMatch", STAFF),
        case("projects", VIEWERS),
        case("createProject", STAFF),
        case("submitProject", STAFF),
        case("reviewProject", STREET),
        case("removeProjectFromLibrary", STREET),
        case("projectLibrary", &[Staff, StreetAdmin, PlatformAdmin]),
        case("selectProject", STAFF),
        case("startProject", STAFF),
        case("completeProject", STAFF),
        // staff_a also holds RESIDENT.
        case("rateProject", &[Resident, Staff, PlatformAdmin]),
        case("closeProjectEvaluation", STAFF),
        case("indices", &[Staff, StreetAdmin, PlatformAdmin]),
        case("regionIndices", STREET),
        case("organisations", VIEWERS),
        case("createOrganisation", &[Staff, StreetAdmin, PlatformAdmin]),
        case("createStreetOrganisation", STREET),
    ]
}

/// Runs a mutation as `who` and returns its data.
async fn setup(app: &TestApp, who: &linli::world::Person, query: &str, vars: Value) -> Value {
    let r = app.gql(who.token(), query, vars).await;
    r.data().clone()
}

async fn fresh_resource(app: &TestApp, world: &World, quantity: i32) -> String {
    let d = setup(
        app,
        &world.staff_a,
        r#"mutation($c: ID!, $q: Int!) { createResource(communityId: $c, title: "理发服务", category: SERVICE, action: NEIGHBOUR_MUTUAL_AID, quantity: $q, unit: "次", skills: ["理发"]) { id } }"#,
        json!({"c": world.community_a, "q": quantity}),
    )
    .await;
    d["createResource"]["id"].as_str().unwrap().to_string()
}

async fn fresh_need(app: &TestApp, world: &World, accept: bool) -> String {
    let d = setup(
        app,
        &world.resident_a,
        r#"mutation($c: ID!) { submitNeed(communityId: $c, title: "上门理发", category: "服务", urgency: HIGH, description: "需要上门理发") { id } }"#,
        json!({"c": world.community_a}),
    )
    .await;
    let id = d["submitNeed"]["id"].as_str().unwrap().to_string();
    if accept {
        setup(
            app,
            &world.staff_a,
            "mutation($n: ID!) { reviewNeed(needId: $n, accept: true) { id } }",
            json!({"n": id}),
        )
        .await;
    }
    id
}

/// A fresh project of community A moved on to `stage`.
async fn fresh_project(app: &TestApp, world: &World, stage: &str) -> String {
    let resource = fresh_resource(app, world, 2).await;
    let d = setup(
        app,
        &world.staff_a,
        r#"mutation($c: ID!, $r: ID!) { createProject(communityId: $c, title: "理发项目", needIds: [], pledges: [{resourceId: $r, quantity: 1}], budgetFen: 1000) { id } }"#,
        json!({"c": world.community_a, "r": resource}),
    )
    .await;
    let id = d["createProject"]["id"].as_str().unwrap().to_string();
    let steps: &[(&linli::world::Person, &str)] = &[
        (&world.staff_a, "submitProject(projectId: $p)"),
        (
            &world.street_admin_a,
            "reviewProject(projectId: $p, score: 90)",
        ),
        (&world.staff_a, "selectProject(projectId: $p)"),
        (&world.staff_a, "startProject(projectId: $p)"),
        (&world.staff_a, "completeProject(projectId: $p)"),
    ];
    let upto = match stage {
        "DRAFT" => 0,
        "SUBMITTED" => 1,
        "IN_LIBRARY" => 2,
        "SELECTED" => 3,
        "IN_PROGRESS" => 4,
        "COMPLETED" => 5,
        other => panic!("no stage {other}"),
    };
    for (who, call) in &steps[..upto] {
        setup(
            app,
            who,
            &format!("mutation($p: ID!) {{ {call} {{ id }} }}"),
            json!({"p": id}),
        )
        .await;
    }
    id
}

fn project_mutation(call: &str, id: &str) -> (String, Value) {
    (
        format!("mutation($p: ID!) {{ {call} {{ id status }} }}"),
        json!({"p": id}),
    )
}

async fn lists_request(app: &TestApp, world: &World, case: &str) -> Option<(String, Value)> {
    let c = world.community_a;
    let now = chrono::Utc::now();
    Some(match case {
        "resources" => (
            "query($c: ID!) { resources(communityId: $c) { totalCount } }".into(),
            json!({"c": c}),
        ),
        "createResource" => (
            r#"mutation($c: ID!) { createResource(communityId: $c, title: "闲置书籍", category: GOODS, action: NEIGHBOUR_MUTUAL_AID, quantity: 3, unit: "本") { id } }"#.into(),
            json!({"c": c}),
        ),
        "withdrawResource" => {
            let r = fresh_resource(app, world, 1).await;
            (
                "mutation($r: ID!) { withdrawResource(resourceId: $r) { status } }".into(),
                json!({"r": r}),
            )
        }
        "needs" => (
            "query($c: ID!) { needs(communityId: $c) { totalCount } }".into(),
            json!({"c": c}),
        ),
        "need" => {
            let n = fresh_need(app, world, false).await;
            ("query($n: ID!) { need(id: $n) { id title } }".into(), json!({"n": n}))
        }
        "submitNeed" => (
            r#"mutation($c: ID!) { submitNeed(communityId: $c, title: "修水管", category: "服务", urgency: NORMAL, description: "厨房漏水") { id } }"#.into(),
            json!({"c": c}),
        ),
        "submitNeedOnBehalf" => {
            let elderly = app
                .member(c, "独居老人", &[api::policy::Role::Resident], &world.staff_a)
                .await;
            (
                r#"mutation($c: ID!, $o: ID!) { submitNeed(communityId: $c, title: "助餐", category: "服务", urgency: HIGH, description: "代为登记", onBehalfOf: $o) { id } }"#.into(),
                json!({"c": c, "o": elderly.id}),
            )
        }
        "needQueue" => (
            "query($c: ID!) { needQueue(communityId: $c) { totalCount } }".into(),
            json!({"c": c}),
        ),
        "reviewNeed" => {
            let n = fresh_need(app, world, false).await;
            (
                "mutation($n: ID!) { reviewNeed(needId: $n, accept: true) { status } }".into(),
                json!({"n": n}),
            )
        }
        "matchSuggestions" => {
            let n = fresh_need(app, world, true).await;
            (
                "query($n: ID!) { matchSuggestions(needId: $n) { id } }".into(),
                json!({"n": n}),
            )
        }
        "needsForResource" => {
            let r = fresh_resource(app, world, 1).await;
            (
                "query($r: ID!) { needsForResource(resourceId: $r) { score } }".into(),
                json!({"r": r}),
            )
        }
        "confirmMatch" => {
            let n = fresh_need(app, world, true).await;
            let r = fresh_resource(app, world, 1).await;
            (
                "mutation($n: ID!, $r: ID!) { confirmMatch(needId: $n, resourceId: $r) { status } }".into(),
                json!({"n": n, "r": r}),
            )
        }
        "projects" => (
            "query($c: ID!) { projects(communityId: $c) { totalCount } }".into(),
            json!({"c": c}),
        ),
        "createProject" => {
            let n = fresh_need(app, world, true).await;
            let r = fresh_resource(app, world, 1).await;
            (
                r#"mutation($c: ID!, $n: ID!, $r: ID!) { createProject(communityId: $c, title: "新项目", needIds: [$n], pledges: [{resourceId: $r, quantity: 1}], budgetFen: 100) { id } }"#.into(),
                json!({"c": c, "n": n, "r": r}),
            )
        }
        "submitProject" => project_mutation("submitProject(projectId: $p)", &fresh_project(app, world, "DRAFT").await),
        "reviewProject" => project_mutation("reviewProject(projectId: $p, score: 70)", &fresh_project(app, world, "SUBMITTED").await),
        "removeProjectFromLibrary" => project_mutation(
            r#"removeProjectFromLibrary(projectId: $p, reason: "不再需要")"#,
            &fresh_project(app, world, "IN_LIBRARY").await,
        ),
        "projectLibrary" => (
            "query($s: ID!) { projectLibrary(streetId: $s) { totalCount } }".into(),
            json!({"s": world.street_a}),
        ),
        "selectProject" => {
            let p = fresh_project(app, world, "IN_LIBRARY").await;
            (
                "mutation($p: ID!, $c: ID!) { selectProject(projectId: $p, communityId: $c) { status } }".into(),
                json!({"p": p, "c": c}),
            )
        }
        "startProject" => project_mutation("startProject(projectId: $p)", &fresh_project(app, world, "SELECTED").await),
        "completeProject" => project_mutation("completeProject(projectId: $p)", &fresh_project(app, world, "IN_PROGRESS").await),
        "rateProject" => project_mutation(
            r#"rateProject(projectId: $p, score: 4, comment: "不错")"#,
            &fresh_project(app, world, "COMPLETED").await,
        ),
        "closeProjectEvaluation" => project_mutation(
            "closeProjectEvaluation(projectId: $p)",
            &fresh_project(app, world, "COMPLETED").await,
        ),
        "indices" => (
            "query($c: ID!, $f: DateTime!, $t: DateTime!) { indices(communityId: $c, from: $f, to: $t) { teams } }".into(),
            json!({"c": c, "f": now - chrono::Duration::days(30), "t": now}),
        ),
        "regionIndices" => (
            "query($r: ID!, $f: DateTime!, $t: DateTime!) { regionIndices(regionId: $r, from: $f, to: $t) { indices { teams } } }".into(),
            json!({"r": world.street_a, "f": now - chrono::Duration::days(30), "t": now}),
        ),
        "organisations" => (
            "query($c: ID!) { organisations(communityId: $c) { totalCount } }".into(),
            json!({"c": c}),
        ),
        "createOrganisation" => (
            r#"mutation($r: ID!, $n: String!) { createOrganisation(regionId: $r, name: $n, kind: SOCIAL_ORGANISATION) { id } }"#.into(),
            json!({"r": c, "n": format!("组织{}", rand_room())}),
        ),
        "createStreetOrganisation" => (
            r#"mutation($r: ID!, $n: String!) { createOrganisation(regionId: $r, name: $n, kind: COMPANY) { id } }"#.into(),
            json!({"r": world.street_a, "n": format!("单位{}", rand_room())}),
        ),
        _ => return None,
    })
}

/// Members of community a: they hold points accounts there.
const CREDIT_MEMBERS: &[Caller] = &[Caller::Resident, Caller::GridWorker, Caller::Staff];
/// Members of community a and the officers above it.
const CREDIT_READERS: &[Caller] = &[
    Caller::Resident,
    Caller::GridWorker,
    Caller::Staff,
    Caller::StreetAdmin,
    Caller::PlatformAdmin,
];

fn member_of_a(world: &World, caller: Caller) -> Option<&linli::world::Person> {
    match caller {
        Caller::Resident => Some(&world.resident_a),
        Caller::GridWorker => Some(&world.grid_a),
        Caller::Staff => Some(&world.staff_a),
        _ => None,
    }
}

/// Points for a member of community a, given by the platform administrator.
async fn fund(
    app: &TestApp,
    world: &World,
    person: &linli::world::Person,
    amount: i32,
) -> uuid::Uuid {
    let account =
        api::service::credits::ledger::member_account(&app.db, world.community_a, person.id)
            .await
            .map_err(|e| e.message())
            .unwrap();
    api::service::credits::ledger::adjust_points(
        &app.db,
        &app.actor(world.admin.id),
        api::service::credits::ledger::AdjustInput {
            account_id: account.id,
            amount,
            reason: "测试发放".into(),
            idempotency_key: uuid::Uuid::now_v7().to_string(),
        },
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    account.id
}

async fn credit_request(
    app: &TestApp,
    world: &World,
    case: &str,
    caller: Caller,
) -> Option<(String, Value)> {
    let key = uuid::Uuid::now_v7().to_string();
    let request = match case {
        "myAccount" => (
            "query($c: ID!) { myAccount(communityId: $c) { id balance } }".into(),
            json!({"c": world.community_a}),
        ),
        "creditSettings" => (
            "query($c: ID!) { creditSettings(communityId: $c) { validityMonths } }".into(),
            json!({"c": world.community_a}),
        ),
        "updateCreditSettings" => (
            credits_support::SET_RULES.into(),
            credits_support::settings_vars(world, json!({})),
        ),
        "postingsOfResident" => {
            let account = fund(app, world, &world.resident_a, 1).await;
            (
                credits_support::STATEMENT.into(),
                json!({"a": account, "first": 5}),
            )
        }
        "leaderboard" => (
            "query($c: ID!, $f: DateTime!, $t: DateTime!) { leaderboard(communityId: $c, from: $f, to: $t) { rank } }".into(),
            json!({"c": world.community_a, "f": "2026-01-01T00:00:00Z", "t": "2027-01-01T00:00:00Z"}),
        ),
        "activities" => (
            "query($c: ID!) { activities(communityId: $c) { totalCount } }".into(),
            json!({"c": world.community_a}),
        ),
        "transferPoints" => {
            if let Some(person) = member_of_a(world, caller) {
                fund(app, world, person, 5).await;
            }
            let to = if caller == Caller::Resident { world.grid_a.id } else { world.resident_a.id };
            (
                credits_support::TRANSFER.into(),
                json!({"c": world.community_a, "to": to, "amount": 1, "memo": null, "key": key}),
            )
        }
        "adjustPoints" => {
            let account = fund(app, world, &world.resident_a, 1).await;
            (
                credits_support::ADJUST.into(),
                json!({"a": account, "amount": 1, "reason": "补录", "key": key}),
            )
        }
        "reversePosting" => {
            let account = fund(app, world, &world.resident_a, 3).await;
            let posting: uuid::Uuid = {
                use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
                entity::credits::posting::Entity::find()
                    .filter(entity::credits::posting::Column::ToAccountId.eq(account))
                    .order_by_desc(entity::credits::posting::Column::Id)
                    .one(&app.db)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            };
            (
                credits_support::REVERSE.into(),
                json!({"p": posting, "reason": "录错", "key": key}),
            )
        }
        "expirePoints" => (
            credits_support::EXPIRE.into(),
            json!({"c": world.community_a}),
        ),
        "createActivity" => {
            let starts = chrono::Utc::now() + chrono::Duration::hours(2);
            (
                credits_support::CREATE_ACTIVITY.into(),
                json!({"c": world.community_a, "t": "活动", "s": starts, "e": starts + chrono::Duration::hours(1), "cap": 3, "pph": 10, "p": null}),
            )
        }
        "signUpActivity" => {
            let activity = credits_support::future_activity(app, world, 5, 60, 10).await;
            (
                credits_support::SIGN_UP.into(),
                json!({"a": activity}),
            )
        }
        "confirmService" => {
            let volunteer = app
                .member(world.community_a, "受确认者", &[api::policy::Role::Volunteer], &world.staff_a)
                .await;
            let activity = credits_support::future_activity(app, world, 5, 60, 10).await;
            credits_support::sign_up(app, &volunteer, &activity).await.data();
            credits_support::attend(app, world, &activity, &volunteer, 0, 60).await;
            (
                credits_support::CONFIRM.into(),
                json!({"a": activity, "records": [{"userId": volunteer.id, "minutes": 60}], "key": key}),
            )
        }
        "createCatalogItem" => (
            "mutation($c: ID!) { createCatalogItem(communityId: $c, title: \"理发券\", pricePoints: 5, stock: 3) { id } }".into(),
            json!({"c": world.community_a}),
        ),
        "redeem" => {
            if let Some(person) = member_of_a(world, caller) {
                fund(app, world, person, 5).await;
            }
            let item = credits_support::create_item(app, world, "毛巾", 5, 10).await;
            (
                credits_support::REDEEM.into(),
                json!({"item": item, "q": 1, "key": key}),
            )
        }
        "cancelRedemptionOfResident" => {
            fund(app, world, &world.resident_a, 5).await;
            let item = credits_support::create_item(app, world, "肥皂", 5, 10).await;
            let r = app
                .gql(world.resident_a.token(), credits_support::REDEEM, json!({"item": item, "q": 1, "key": key}))
                .await;
            let id = r.data()["redeem"]["id"].clone();
            (
                "mutation($r: ID!) { cancelRedemption(redemptionId: $r) { status } }".into(),
                json!({"r": id}),
            )
        }
        "createVolunteerTeam" => {
            let leader = app
                .member(world.community_a, "队长", &[api::policy::Role::Volunteer], &world.staff_a)
                .await;
            (
                "mutation($c: ID!, $n: String!, $l: ID!) { createVolunteerTeam(communityId: $c, name: $n, leaderId: $l) { id } }".into(),
                json!({"c": world.community_a, "n": format!("服务队{}", rand_room()), "l": leader.id}),
            )
        }
        "volunteers" => (
            "query($c: ID!) { volunteers(communityId: $c) { totalCount } }".into(),
            json!({"c": world.community_a}),
        ),
        "serviceRecordOfResident" => (
            "query($c: ID!, $u: ID) { serviceRecord(communityId: $c, userId: $u) { totalMinutes csv } }".into(),
            json!({"c": world.community_a, "u": world.resident_a.id}),
        ),
        _ => return None,
    };
    Some(request)
}

/// Makes the request of `case` for `caller`, creating fresh records so that
/// an allowed call by one caller does not change what the next one meets.
async fn request(app: &TestApp, world: &World, case: &str, caller: Caller) -> (String, Value) {
    let fresh = |name: &'static str| async move {
        app.applicant(world.community_a, name, "9栋", &format!("{}", rand_room()))
            .await
    };
    match case {
        "members" => (
            "query($c: ID!) { members(communityId: $c) { totalCount edges { node { id } } } }".into(),
            json!({"c": world.community_a}),
        ),
        "approveMembership" => {
            let p = fresh("新居民").await;
            (
                "mutation($m: ID!) { approveMembership(membershipId: $m, roles: [RESIDENT]) { id status } }".into(),
                json!({"m": p.membership_id}),
            )
        }
        "approveMembershipAsStaff" => {
            let p = fresh("新社工").await;
            (
                "mutation($m: ID!) { approveMembership(membershipId: $m, roles: [STAFF]) { id status } }".into(),
                json!({"m": p.membership_id}),
            )
        }
        "rejectMembership" => {
            let p = fresh("被驳回").await;
            (
                r#"mutation($m: ID!) { rejectMembership(membershipId: $m, reason: "不是本小区住户") { id status } }"#.into(),
                json!({"m": p.membership_id}),
            )
        }
        "setMemberRoles" => {
            let p = app
                .member(world.community_a, "换角色", &[api::policy::Role::Resident], &world.staff_a)
                .await;
            (
                "mutation($m: ID!) { setMemberRoles(membershipId: $m, roles: [RESIDENT, VOLUNTEER]) { id roles } }".into(),
                json!({"m": p.membership_id}),
            )
        }
        "removeMember" => {
            let p = app
                .member(world.community_a, "被移除", &[api::policy::Role::Resident], &world.staff_a)
                .await;
            (
                r#"mutation($m: ID!) { removeMember(membershipId: $m, reason: "已搬离") { id status } }"#.into(),
                json!({"m": p.membership_id}),
            )
        }
        "createStreet" => (
            "mutation($p: ID!, $n: String!) { createRegion(name: $n, kind: STREET, parentId: $p) { id } }".into(),
            json!({"p": world.district, "n": format!("街道{:?}{}", caller, rand_room())}),
        ),
        "createCommunity" => (
            "mutation($p: ID!, $n: String!) { createRegion(name: $n, kind: COMMUNITY, parentId: $p) { id } }".into(),
            json!({"p": world.street_a, "n": format!("社区{:?}{}", caller, rand_room())}),
        ),
        "createDistrict" => (
            "mutation($n: String!) { createRegion(name: $n, kind: DISTRICT) { id } }".into(),
            json!({"n": format!("区{:?}{}", caller, rand_room())}),
        ),
        "appointStreetAdmin" => (
            r#"mutation($r: ID!, $p: String!) { appointOfficer(regionId: $r, phone: $p, displayName: "新干部", role: STREET_ADMIN, initialPassword: "initial-pass-1") { id } }"#.into(),
            json!({"r": world.street_a, "p": fresh_phone()}),
        ),
        "appointObserver" => (
            r#"mutation($r: ID!, $p: String!) { appointOfficer(regionId: $r, phone: $p, displayName: "观察员", role: OBSERVER, initialPassword: "initial-pass-1") { id } }"#.into(),
            json!({"r": world.street_a, "p": fresh_phone()}),
        ),
        "joinCommunity" => {
            // A community nobody of the world belongs to yet.
            let community = api::service::org::create_region(
                &app.db,
                &app.actor(world.admin.id),
                &format!("新社区{}", rand_room()),
                entity::org::region::RegionKind::Community,
                Some(world.street_b),
            )
            .await
            .map_err(|e| e.message())
            .unwrap();
            (
                r#"mutation($c: ID!) { joinCommunity(communityId: $c, realName: "王五", phone: "13700000000", building: "8栋", unit: "1单元", room: "808") { id status } }"#.into(),
                json!({"c": community.id}),
            )
        }
        "updateProfile" => (
            r#"mutation { updateProfile(displayName: "新昵称") { id } }"#.into(),
            json!({}),
        ),
        "myData" => ("query { myData }".into(), json!({})),
        "deleteMyAccount" => {
            // Points are spent first (erasure refuses a positive balance):
            // the administrator takes back what earlier cases gave.
            if let Some(person) = person(world, caller) {
                spend_all_points(app, world, person.id).await;
            }
            (
                r#"mutation { deleteMyAccount(confirmation: "确认注销") { id pseudonym } }"#.into(),
                json!({}),
            )
        }
        "unpledgedHouseholds" => (
            "query($c: ID!) { unpledgedHouseholds(communityId: $c) { building } }".into(),
            json!({"c": world.community_a}),
        ),
        "regionCovenants" => (
            "query($r: ID!) { regionCovenants(regionId: $r) { totalCount } }".into(),
            json!({"r": world.street_a}),
        ),
        "draftCovenant" => {
            // One version may be in progress at a time: each caller meets a
            // new community (of street B, so that staff_a stays the only staff
            // of street A's communities) whose staff is staff_a.
            let community = api::service::org::create_region(
                &app.db,
                &app.actor(world.admin.id),
                &format!("公约社区{}", rand_room()),
                entity::org::region::RegionKind::Community,
                Some(world.street_b),
            )
            .await
            .map_err(|e| e.message())
            .unwrap();
            // staff_a is staff there too; everyone else stands as in community A.
            let joined = api::service::org::join_community(
                &app.db,
                &app.state.keys,
                &app.actor(world.staff_a.id),
                api::service::org::JoinRequest {
                    community_id: community.id,
                    real_name: "甲社工",
                    phone: "13912345678",
                    building: "1栋",
                    unit: "1单元",
                    room: "101",
                },
            )
            .await
            .map_err(|e| e.message())
            .unwrap();
            api::service::org::approve_membership(
                &app.db,
                &app.actor(world.admin.id),
                joined.membership.id,
                &[api::policy::Role::Staff],
            )
            .await
            .map_err(|e| e.message())
            .unwrap();
            (
                r#"mutation($c: ID!) { draftCovenant(communityId: $c, articles: [{chapter: "总则", title: "宗旨", body: "和睦相处"}]) { id } }"#.into(),
                json!({"c": community.id}),
            )
        }
        "proposals" => (
            "query($c: ID!) { proposals(communityId: $c) { totalCount } }".into(),
            json!({"c": world.community_a}),
        ),
        "ballotResults" => (
            "query($c: ID!) { ballotResults(communityId: $c) { totalCount } }".into(),
            json!({"c": world.community_a}),
        ),
        "submitProposal" => (
            r#"mutation($c: ID!) { submitProposal(communityId: $c, title: "议题", description: "说明") { id } }"#.into(),
            json!({"c": world.community_a}),
        ),
        "secondProposal" => {
            // Authored by someone none of the callers is.
            let author = app
                .member(world.community_a, "提议人", &[api::policy::Role::Resident], &world.staff_a)
                .await;
            let p = consultation::proposal(app, &author).await;
            (
                "mutation($p: ID!) { secondProposal(proposalId: $p) { id } }".into(),
                json!({"p": p}),
            )
        }
        "acceptProposal" => {
            let p = app.eligible_proposal(world).await;
            (
                "mutation($p: ID!) { acceptProposal(proposalId: $p) { id } }".into(),
                json!({"p": p}),
            )
        }
        "rejectProposal" => {
            let p = consultation::proposal(app, &world.resident_a).await;
            (
                r#"mutation($p: ID!) { rejectProposal(proposalId: $p, reason: "重复") { id } }"#.into(),
                json!({"p": p}),
            )
        }
        "createCouncil" => (
            "mutation($c: ID!, $n: String!, $m: [ID!]!) { createCouncil(communityId: $c, name: $n, memberIds: $m) { id } }".into(),
            json!({"c": world.community_a, "n": format!("议事会{}", rand_room()), "m": [world.resident_a.id]}),
        ),
        "updateConsultationSettings" => (
            "mutation($c: ID!) { updateConsultationSettings(communityId: $c, secondingKind: RESIDENTS, secondingValue: 1) { secondingValue } }".into(),
            json!({"c": world.community_a}),
        ),
        "openBallot" => {
            let p = app.accepted_proposal(world).await;
            (
                "mutation($p: ID!, $c: DateTime!) { openBallot(proposalId: $p, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, closesAt: $c) { id } }".into(),
                json!({"p": p, "c": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
            )
        }
        "recordPaperVote" => {
            let b = app.open_residents_ballot(world, false).await;
            (
                "mutation($b: ID!, $v: ID!) { recordPaperVote(ballotId: $b, voterId: $v, choice: FOR) { id } }".into(),
                json!({"b": b, "v": world.resident_a.id}),
            )
        }
        "closeBallot" => {
            let b = app.open_residents_ballot(world, false).await;
            (
                "mutation($b: ID!) { closeBallot(ballotId: $b) { id } }".into(),
                json!({"b": b}),
            )
        }
        "ballot" => {
            let b = app.open_residents_ballot(world, false).await;
            (
                "query($b: ID!) { ballot(id: $b) { id tally { turnout } } }".into(),
                json!({"b": b}),
            )
        }
        "meetings" => (
            "query($c: ID!) { meetings(communityId: $c) { totalCount } }".into(),
            json!({"c": world.community_a}),
        ),
        "scheduleMeeting" => {
            let council = consultation::council(app, world).await;
            (
                "mutation($c: ID!, $s: DateTime!) { scheduleMeeting(councilId: $c, title: \"议事会\", startsAt: $s, proposalIds: [], quorum: 1) { id } }".into(),
                json!({"c": council, "s": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
            )
        }
        other => match credit_request(app, world, other, caller).await {
            Some(found) => found,
            None => lists_request(app, world, other)
                .await
                .unwrap_or_else(|| panic!("no request for case {other}")),
        },
    }
}

fn rand_room() -> u32 {
    (uuid::Uuid::now_v7().as_u128() % 100_000) as u32
}

fn fresh_phone() -> String {
    format!("135{:08}", uuid::Uuid::now_v7().as_u128() % 100_000_000)
}

/// Records the consultation cases need, made through the services.
mod consultation {
    use api::service::consultation::proposal as proposals;
    use linli::world::Person;
    use linli::{TestApp, World};
    use uuid::Uuid;

    pub async fn proposal(app: &TestApp, author: &Person) -> Uuid {
        proposals::submit_proposal(
            &app.db,
            &app.actor(author.id),
            community_of(app, author).await,
            "议题",
            "说明",
        )
        .await
        .map_err(|e| e.message())
        .unwrap()
        .id
    }

    async fn community_of(app: &TestApp, person: &Person) -> Uuid {
        use entity::org::membership;
        use sea_orm::EntityTrait;
        membership::Entity::find_by_id(person.membership_id.unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .community_id
    }

    pub async fn council(app: &TestApp, world: &World) -> Uuid {
        api::service::consultation::council::create_council(
            &app.db,
            &app.actor(world.staff_a.id),
            world.community_a,
            &format!("议事会{}", Uuid::now_v7().simple()),
            &[world.resident_a.id],
        )
        .await
        .map_err(|e| e.message())
        .unwrap()
        .id
    }
}

async fn every_operation_against_every_caller(app: TestApp) {
    let world = app.world().await;
    let mut failures = Vec::new();
    for case in cases() {
        for caller in CALLERS {
            let expect = if case.allowed.contains(&caller) {
                Expect::Allowed
            } else if caller == Caller::Anonymous {
                Expect::Unauthenticated
            } else {
                assert!(!case.needs_login_only || caller == Caller::Anonymous);
                Expect::Denied
            };
            let (query, variables) = request(&app, &world, case.name, caller).await;
            let response = app.gql(token(&world, caller), &query, variables).await;
            let code = response.error_code();
            let ok = match expect {
                Expect::Allowed => code.is_none(),
                Expect::Denied => matches!(code.as_deref(), Some("FORBIDDEN" | "NOT_FOUND")),
                Expect::Unauthenticated => code.as_deref() == Some("UNAUTHENTICATED"),
            };
            if !ok {
                failures.push(format!(
                    "{} as {caller:?}: expected {expect:?}, got {}",
                    case.name, response.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation table:\n{}",
        failures.join("\n")
    );
}

backend_tests!(every_operation_against_every_caller);
