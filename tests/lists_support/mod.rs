//! Helpers shared by the three-lists tests: making resources, needs and
//! projects through the API, and reading them back.

#![allow(dead_code)]

use linli::TestApp;
use linli::world::Person;
use serde_json::{Value, json};

pub const CREATE_RESOURCE: &str = r#"mutation($c: ID!, $t: String!, $cat: ResourceCategory!, $a: FourAction!, $q: Int!, $u: String!, $d: String, $org: ID, $p: ID, $s: [String!]) {
  createResource(communityId: $c, title: $t, category: $cat, action: $a, quantity: $q, unit: $u, description: $d, organisationId: $org, providerId: $p, skills: $s) {
    id title category action quantity reserved used remaining unit status fromPartyMember skills
  } }"#;

pub const SUBMIT_NEED: &str = r#"mutation($c: ID!, $t: String!, $cat: String!, $u: Urgency!, $d: String!, $o: ID) {
  submitNeed(communityId: $c, title: $t, category: $cat, urgency: $u, description: $d, onBehalfOf: $o) {
    id title category urgency status description requester { id } submittedBy { id }
  } }"#;

pub const REVIEW_NEED: &str = r#"mutation($n: ID!, $a: Boolean!, $r: String) {
  reviewNeed(needId: $n, accept: $a, reason: $r) { id status rejectReason } }"#;

pub const CREATE_PROJECT: &str = r#"mutation($c: ID!, $t: String!, $n: [ID!]!, $p: [PledgeInput!]!, $b: Int!) {
  createProject(communityId: $c, title: $t, needIds: $n, pledges: $p, budgetFen: $b) {
    id status budgetFen needs { id status } pledges { quantity status resource { id reserved status } }
  } }"#;

pub const PROJECT: &str = r#"query($id: ID!) { project(id: $id) {
  id status budgetFen spentFen averageRating ratingCount reviewScore removalReason
  needs { id status } pledges { quantity usedQuantity status resource { id quantity reserved used status } }
} }"#;

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

pub async fn resource(
    app: &TestApp,
    who: &Person,
    community: uuid::Uuid,
    title: &str,
    category: &str,
    quantity: i32,
    skills: &[&str],
) -> String {
    let unit = if category == "FUNDS" { "分" } else { "次" };
    let r = app
        .gql(
            who.token(),
            CREATE_RESOURCE,
            json!({"c": community, "t": title, "cat": category, "a": "NEIGHBOUR_MUTUAL_AID",
                   "q": quantity, "u": unit, "s": skills}),
        )
        .await;
    id(&r.data()["createResource"])
}

pub async fn need(
    app: &TestApp,
    who: &Person,
    community: uuid::Uuid,
    title: &str,
    category: &str,
    urgency: &str,
    description: &str,
) -> String {
    let r = app
        .gql(
            who.token(),
            SUBMIT_NEED,
            json!({"c": community, "t": title, "cat": category, "u": urgency, "d": description}),
        )
        .await;
    id(&r.data()["submitNeed"])
}

/// A need submitted by `who` and accepted by `staff`.
pub async fn accepted_need(
    app: &TestApp,
    who: &Person,
    staff: &Person,
    community: uuid::Uuid,
    title: &str,
) -> String {
    let n = need(app, who, community, title, "服务", "NORMAL", "需要帮助").await;
    app.gql(staff.token(), REVIEW_NEED, json!({"n": n, "a": true}))
        .await
        .data();
    n
}

pub async fn project(
    app: &TestApp,
    staff: &Person,
    community: uuid::Uuid,
    title: &str,
    needs: &[&str],
    pledges: &[(&str, i32)],
    budget: i64,
) -> Value {
    let pledges: Vec<Value> = pledges
        .iter()
        .map(|(r, q)| json!({"resourceId": r, "quantity": q}))
        .collect();
    let r = app
        .gql(
            staff.token(),
            CREATE_PROJECT,
            json!({"c": community, "t": title, "n": needs, "p": pledges, "b": budget}),
        )
        .await;
    r.data()["createProject"].clone()
}

/// Runs a one-argument project mutation (`submitProject(projectId:)` …).
pub async fn act(app: &TestApp, who: &Person, mutation: &str, project: &str) -> linli::GqlResponse {
    app.gql(
        who.token(),
        &format!("mutation($p: ID!) {{ {mutation}(projectId: $p) {{ id status }} }}"),
        json!({"p": project}),
    )
    .await
}

pub async fn review(app: &TestApp, who: &Person, project: &str, score: i32) -> linli::GqlResponse {
    app.gql(
        who.token(),
        r#"mutation($p: ID!, $s: Int!) { reviewProject(projectId: $p, score: $s, comment: "评审意见") { id status reviewScore } }"#,
        json!({"p": project, "s": score}),
    )
    .await
}

pub async fn project_state(app: &TestApp, who: &Person, project: &str) -> Value {
    app.gql(who.token(), PROJECT, json!({"id": project}))
        .await
        .data()["project"]
        .clone()
}

/// How many audit entries an entity has.
pub async fn audits(app: &TestApp, entity_id: &str) -> u64 {
    use entity::audit::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    audit_log::Entity::find()
        .filter(audit_log::Column::EntityId.eq(uuid::Uuid::parse_str(entity_id).unwrap()))
        .count(&app.db)
        .await
        .unwrap()
}

/// The audit entries of an entity, oldest first.
pub async fn audit_entries(app: &TestApp, entity_id: &str) -> Vec<entity::audit::audit_log::Model> {
    use entity::audit::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    audit_log::Entity::find()
        .filter(audit_log::Column::EntityId.eq(uuid::Uuid::parse_str(entity_id).unwrap()))
        .order_by_asc(audit_log::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}
