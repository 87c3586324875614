//! No N+1: the number of SQL statements a request runs does not grow with the
//! page size. The benchmark's R2 (needs with requester and project) and R3
//! (projects → pledges → resource → provider) are asked for a page of 5 and
//! of 100; the statements counted by `linli_db_statements_total` between the
//! two must be equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use entity::lists::need::{BeneficiaryGroup, NeedStatus, Urgency};
use entity::lists::pledge::PledgeStatus;
use entity::lists::project::ProjectStatus;
use entity::lists::resource::{FourAction, ResourceCategory, ResourceStatus};
use entity::lists::{need, pledge, project, project_need, resource};
use linli::{TestApp, backend_tests, spawn_app_with};
use sea_orm::{EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

const R2: &str = "query R2($c: ID!, $n: Int!) { needs(communityId: $c, first: $n) { edges { node { \
    id title category urgency status createdAt requester { id displayName } \
    project { id title status } } } pageInfo { endCursor hasNextPage } } }";
const R3: &str = "query R3($c: ID!, $n: Int!) { projects(communityId: $c, first: $n) { edges { node { \
    id title status pledges { id quantity status resource { id title category \
    provider { id displayName } } } } } } }";

const ROWS: usize = 100;

/// 100 needs, each from its own requester and taken on by its own project;
/// each project with two pledges on resources of different providers.
async fn seed(app: &TestApp, community_id: Uuid, street_id: Uuid, staff: Uuid) {
    let now = Utc::now();
    let mut people = Vec::with_capacity(ROWS);
    for i in 0..ROWS {
        people.push(app.create_user(&format!("居民{i}"), false).await.id);
    }
    let resources: Vec<resource::Model> = (0..ROWS)
        .map(|r| resource::Model {
            id: Uuid::now_v7(),
            community_id,
            street_id,
            organisation_id: None,
            provider_id: Some(people[r]),
            entered_by: people[r],
            from_party_member: false,
            category: ResourceCategory::Service,
            action: FourAction::NeighbourMutualAid,
            title: format!("资源{r}"),
            description: None,
            skills: "维修".into(),
            quantity: 100,
            reserved: 2,
            used: 0,
            unit: "次".into(),
            status: ResourceStatus::Available,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let projects: Vec<project::Model> = (0..ROWS)
        .map(|p| project::Model {
            id: Uuid::now_v7(),
            community_id,
            street_id,
            selected_community_id: None,
            lead_organisation_id: None,
            title: format!("项目{p}"),
            description: None,
            budget_fen: 100_000,
            spent_fen: None,
            status: ProjectStatus::InProgress,
            review_score: None,
            review_comment: None,
            reviewed_by: None,
            reviewed_at: None,
            removal_reason: None,
            created_by: staff,
            created_at: now + Duration::milliseconds(p as i64),
            updated_at: now,
            selected_at: None,
            started_at: Some(now),
            completed_at: None,
            evaluated_at: None,
        })
        .collect();
    let pledges: Vec<pledge::Model> = projects
        .iter()
        .enumerate()
        .flat_map(|(p, proj)| {
            [p, (p + 1) % ROWS].map(|r| pledge::Model {
                id: Uuid::now_v7(),
                community_id,
                project_id: proj.id,
                resource_id: resources[r].id,
                quantity: 1,
                used_quantity: None,
                status: PledgeStatus::Reserved,
                created_at: now,
                settled_at: None,
            })
        })
        .collect();
    let needs: Vec<need::Model> = (0..ROWS)
        .map(|i| need::Model {
            id: Uuid::now_v7(),
            community_id,
            requester_id: people[i],
            submitted_by: people[i],
            beneficiary_group: BeneficiaryGroup::General,
            category: "维修".into(),
            urgency: Urgency::Normal,
            urgency_rank: 2,
            title: format!("需求{i}"),
            description: "楼道灯坏了".into(),
            status: NeedStatus::InProgress,
            status_reason: None,
            project_id: Some(projects[i].id),
            created_at: now + Duration::milliseconds(i as i64),
            updated_at: now,
        })
        .collect();
    let links: Vec<project_need::Model> = needs
        .iter()
        .map(|n| project_need::Model {
            id: Uuid::now_v7(),
            community_id,
            project_id: n.project_id.expect("linked"),
            need_id: n.id,
        })
        .collect();
    resource::Entity::insert_many(
        resources
            .into_iter()
            .map(IntoActiveModel::into_active_model),
    )
    .exec(&app.db)
    .await
    .expect("resources");
    project::Entity::insert_many(projects.into_iter().map(IntoActiveModel::into_active_model))
        .exec(&app.db)
        .await
        .expect("projects");
    pledge::Entity::insert_many(pledges.into_iter().map(IntoActiveModel::into_active_model))
        .exec(&app.db)
        .await
        .expect("pledges");
    need::Entity::insert_many(needs.into_iter().map(IntoActiveModel::into_active_model))
        .exec(&app.db)
        .await
        .expect("needs");
    project_need::Entity::insert_many(links.into_iter().map(IntoActiveModel::into_active_model))
        .exec(&app.db)
        .await
        .expect("links");
}

/// The server's count of statements run for requests so far.
async fn statements_so_far(app: &TestApp) -> u64 {
    let text = app.metrics_text().await;
    text.lines()
        .find_map(|line| line.strip_prefix("linli_db_statements_total "))
        .expect("linli_db_statements_total is exported")
        .trim()
        .parse()
        .expect("a count")
}

/// Runs `query` for a page of `n` and returns (statements, items on the page).
async fn measure(
    app: &TestApp,
    token: &str,
    query: &str,
    community: Uuid,
    n: usize,
) -> (u64, usize) {
    let before = statements_so_far(app).await;
    let response = app
        .gql(Some(token), query, json!({ "c": community, "n": n }))
        .await;
    let after = statements_so_far(app).await;
    let data = response.data();
    let connection = data
        .as_object()
        .and_then(|o| o.values().next())
        .expect("one root field");
    let edges = connection["edges"].as_array().expect("edges");
    (after - before, edges.len())
}

async fn r2_and_r3_statements_do_not_grow_with_the_page(app: TestApp) {
    // Each loader's batch starts on a timer (LOADER_DELAY_MS, 1 ms in
    // production); a debug build under a busy test run can take longer than
    // that to resolve 100 items, and the page is then fetched in two batches.
    // A wide window makes the count depend on the code's shape only: one
    // statement per relation, whatever the page size.
    let Some(app) = spawn_app_with(app.backend, |settings| settings.loader_delay_ms = 200).await
    else {
        unreachable!("the backend of a running test is available");
    };
    let world = app.world().await;
    seed(&app, world.community_a, world.street_a, world.staff_a.id).await;
    let token = world.staff_a.token.as_str();
    // Warm up: the first request of a fresh server may prepare statements.
    measure(&app, token, R2, world.community_a, 5).await;

    let (r2_small, n) = measure(&app, token, R2, world.community_a, 5).await;
    assert_eq!(n, 5);
    let (r2_large, n) = measure(&app, token, R2, world.community_a, ROWS).await;
    assert_eq!(n, ROWS);
    assert!(r2_small > 0, "the counter counts");
    assert_eq!(
        r2_small, r2_large,
        "R2 ran {r2_small} statements for 5 needs and {r2_large} for {ROWS}"
    );

    let (r3_small, n) = measure(&app, token, R3, world.community_a, 5).await;
    assert_eq!(n, 5);
    let (r3_large, n) = measure(&app, token, R3, world.community_a, ROWS).await;
    assert_eq!(n, ROWS);
    assert_eq!(
        r3_small, r3_large,
        "R3 ran {r3_small} statements for 5 projects and {r3_large} for {ROWS}"
    );

    // The page of 100 really carries the nested records.
    let response = app
        .gql(
            Some(token),
            R3,
            json!({ "c": world.community_a, "n": ROWS }),
        )
        .await;
    let projects = response.data()["projects"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    for edge in &projects {
        let pledges = edge["node"]["pledges"].as_array().expect("pledges");
        assert_eq!(pledges.len(), 2);
        for pledge in pledges {
            assert!(pledge["resource"]["provider"]["displayName"].is_string());
        }
    }
    let response = app
        .gql(
            Some(token),
            R2,
            json!({ "c": world.community_a, "n": ROWS }),
        )
        .await;
    for edge in response.data()["needs"]["edges"].as_array().expect("edges") {
        assert!(edge["node"]["requester"]["displayName"].is_string());
        assert!(edge["node"]["project"]["title"].is_string());
    }
}

backend_tests!(r2_and_r3_statements_do_not_grow_with_the_page);
