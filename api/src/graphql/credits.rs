//! Volunteer time credits: volunteers and teams, activities, the points
//! ledger, the catalogue, leaderboards and service records.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::credits::{
    activity, activity_signup, catalog_item, credit_setting, point_account, redemption,
    volunteer_team,
};

use crate::graphql::context::ContextExt;
use crate::graphql::ids::{parse_id, parse_opt_id, to_id};
use crate::graphql::loaders::load_error;
use crate::graphql::org::{Membership, User};
use crate::graphql::page::{LinliConnection, connection, page_request_for};
use crate::policy::Actor;
use crate::service::credits::activities::{self, Check, NewActivity};
use crate::service::credits::catalog::{self, NewItem};
use crate::service::credits::ledger::{self, AdjustInput, PostingView, TransferInput};
use crate::service::credits::reports::{self, LeaderRow, ServiceRecordReport};
use crate::service::credits::settings::{self, SettingsInput};
use crate::service::credits::volunteers::{self, VolunteerView, split_skills};
use crate::service::org::MembershipView;

// ---------- enums ----------

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::credits::posting::PostingKind")]
pub enum PostingKind {
    /// Confirmed service (issuing account → volunteer).
    Earn,
    /// Spent on a catalogue item (member → issuing account).
    Redeem,
    /// Given to another member.
    Transfer,
    /// Older than the community's validity period (member → issuing account).
    Expire,
    /// A staff correction, with a reason.
    Adjust,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::credits::point_account::AccountKind")]
pub enum AccountKind {
    /// The community's issuing account: minus the points in circulation.
    Issuing,
    /// The community's donation pool (公益池).
    DonationPool,
    Member,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::credits::redemption::RedemptionStatus")]
pub enum RedemptionStatus {
    /// Stock reserved and points spent; waiting to be picked up.
    Reserved,
    Fulfilled,
    /// Cancelled: stock and points were returned.
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::credits::activity::ActivityStatus")]
pub enum ActivityStatus {
    Open,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::credits::activity_signup::SignupStatus")]
pub enum SignUpStatus {
    /// Has a place.
    SignedUp,
    /// On the waiting list; moves up when someone with a place cancels.
    Waitlisted,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::credits::credit_setting::TransferPolicy")]
pub enum TransferPolicy {
    /// Points may be given to any active member of the community.
    AnyMember,
    /// Only to a member of the giver's registered household (family).
    FamilyOnly,
}

// ---------- ledger types ----------

/// A points account: a member's, or the community's issuing account or donation pool.
pub struct Account(pub point_account::Model);

#[Object]
impl Account {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    /// The sum of the signed amounts of the account's postings.
    async fn balance(&self) -> i64 {
        self.0.balance
    }
    /// Minutes of confirmed service paid into the account (hours for certificates).
    async fn minutes_served(&self) -> i64 {
        self.0.minutes_served
    }
    async fn kind(&self) -> AccountKind {
        self.0.kind.into()
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(owner) = self.0.owner_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()
            .user
            .load_one(owner)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
}

/// A posting as seen from one account: amount is signed (positive: points
/// came in; negative: points went out).
pub struct Posting(pub PostingView);

#[Object]
impl Posting {
    async fn id(&self) -> ID {
        to_id(self.0.posting.id)
    }
    async fn kind(&self) -> PostingKind {
        self.0.posting.kind.into()
    }
    async fn amount(&self) -> i64 {
        self.0.signed_amount()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.posting.created_at
    }
    async fn memo(&self) -> Option<&str> {
        self.0.posting.memo.as_deref()
    }
    /// The account this posting is seen from.
    async fn account_id(&self) -> ID {
        to_id(self.0.account_id)
    }
    /// The other account of the posting.
    async fn counterparty_account_id(&self) -> ID {
        let p = &self.0.posting;
        to_id(if p.to_account_id == self.0.account_id {
            p.from_account_id
        } else {
            p.to_account_id
        })
    }
    /// Minutes of service an EARN posting pays for.
    async fn minutes(&self) -> Option<i32> {
        self.0.posting.minutes
    }
    /// The posting this one reverses, for a correction.
    async fn reverses_posting_id(&self) -> Option<ID> {
        self.0.posting.reverses_posting_id.map(to_id)
    }
    async fn activity_id(&self) -> Option<ID> {
        self.0.posting.activity_id.map(to_id)
    }
}

/// One row of a leaderboard.
pub struct LeaderboardRow(pub LeaderRow);

#[Object]
impl LeaderboardRow {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        ctx.loaders()
            .user
            .load_one(self.0.user_id)
            .await
            .map_err(load_error)?
            .map(User::new)
            .ok_or_else(|| {
                load_error(std::sync::Arc::new(sea_orm::DbErr::RecordNotFound(
                    "user".into(),
                )))
            })
    }
    /// Points earned in the period (EARN, net of reversals).
    async fn points(&self) -> i64 {
        self.0.points
    }
    /// Minutes of service credited in the period.
    async fn minutes(&self) -> i64 {
        self.0.minutes
    }
    /// 1 for the most points; equal points and minutes share a rank.
    async fn rank(&self) -> i64 {
        self.0.rank
    }
}

/// A community's time-credit rules.
pub struct CreditSettings(pub credit_setting::Model);

#[Object]
impl CreditSettings {
    async fn points_per_hour_default(&self) -> i32 {
        self.0.points_per_hour_default
    }
    /// Minutes of one volunteer's service a day that earn points; beyond it
    /// minutes are confirmed but earn nothing.
    async fn daily_cap_minutes(&self) -> i32 {
        self.0.daily_cap_minutes
    }
    /// A member balance never goes above this; earned points beyond it go to
    /// the donation pool, and transfers that would pass it are refused.
    async fn balance_cap(&self) -> Option<i32> {
        self.0.balance_cap
    }
    /// Points older than this many months expire (EXPIRE postings).
    async fn validity_months(&self) -> i32 {
        self.0.validity_months
    }
    async fn transfer_policy(&self) -> TransferPolicy {
        self.0.transfer_policy.into()
    }
}

#[derive(SimpleObject)]
pub struct ExpiryResult {
    /// Accounts that had points expire.
    pub accounts: i64,
    /// Points expired in all.
    pub points: i64,
}

// ---------- volunteers ----------

pub struct Volunteer(pub VolunteerView);

#[Object]
impl Volunteer {
    async fn membership(&self) -> Membership {
        Membership(MembershipView {
            membership: self.0.membership.clone(),
            reveal_personal: true,
        })
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.membership.user_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    async fn skills(&self) -> &[String] {
        &self.0.skills
    }
}

/// A volunteer service team (志愿服务队).
pub struct VolunteerTeam(pub volunteer_team::Model);

#[Object]
impl VolunteerTeam {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn leader(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.leader_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let ids = volunteers::team_member_ids(&ctx.state().db, self.0.id).await?;
        let users = ctx
            .loaders()
            .user
            .load_many(ids.iter().copied())
            .await
            .map_err(load_error)?;
        Ok(ids
            .iter()
            .filter_map(|id| users.get(id).cloned().map(User::new))
            .collect())
    }
}

// ---------- activities ----------

pub struct Activity(pub activity::Model);

#[Object]
impl Activity {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn place(&self) -> Option<&str> {
        self.0.place.as_deref()
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    async fn points_per_hour(&self) -> i32 {
        self.0.points_per_hour
    }
    async fn skills_wanted(&self) -> Vec<String> {
        split_skills(&self.0.skills_wanted)
    }
    async fn status(&self) -> ActivityStatus {
        self.0.status.into()
    }
    /// The project of the three lists this activity serves, if any.
    async fn project_id(&self) -> Option<ID> {
        self.0.project_id.map(to_id)
    }
    async fn organiser(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.organiser_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    /// Volunteers with a place.
    async fn signed_up_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(activities::signup_counts(&ctx.state().db, self.0.id)
            .await?
            .0)
    }
    /// Volunteers on the waiting list.
    async fn waitlist_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(activities::signup_counts(&ctx.state().db, self.0.id)
            .await?
            .1)
    }
    /// The caller's own sign-up, if any.
    async fn my_sign_up(&self, ctx: &Context<'_>) -> Result<Option<SignUp>> {
        let Actor::User(user_id) = ctx.actor() else {
            return Ok(None);
        };
        Ok(activities::signup_of(&ctx.state().db, self.0.id, user_id)
            .await?
            .map(SignUp))
    }
}

/// A volunteer's sign-up for an activity and their attendance.
pub struct SignUp(pub activity_signup::Model);

#[Object]
impl SignUp {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn activity_id(&self) -> ID {
        to_id(self.0.activity_id)
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.user_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    async fn status(&self) -> SignUpStatus {
        self.0.status.into()
    }
    async fn checked_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_in_at
    }
    async fn checked_out_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_out_at
    }
    /// The volunteer never checked out: the system closed the attendance at
    /// the activity's end. Staff should check it before confirming.
    async fn auto_closed(&self) -> bool {
        self.0.auto_closed
    }
    async fn confirmed_minutes(&self) -> Option<i32> {
        self.0.confirmed_minutes
    }
    /// Of the confirmed minutes, those that earned points (daily cap).
    async fn credited_minutes(&self) -> Option<i32> {
        self.0.credited_minutes
    }
    async fn correction_reason(&self) -> Option<&str> {
        self.0.correction_reason.as_deref()
    }
    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }
}

/// The check-in/out code an organiser shows.
pub struct CheckCode(pub activity::Model);

#[Object]
impl CheckCode {
    async fn code(&self) -> &str {
        self.0.check_code.as_deref().unwrap_or_default()
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.check_code_expires_at
    }
    async fn activity(&self) -> Activity {
        Activity(self.0.clone())
    }
}

#[derive(InputObject)]
pub struct ServiceRecordInput {
    pub user_id: ID,
    /// Minutes served, confirmed by staff.
    pub minutes: i32,
    /// Why the minutes differ from the attendance record (required then).
    pub reason: Option<String>,
}

// ---------- catalogue ----------

pub struct CatalogItem(pub catalog_item::Model);

#[Object]
impl CatalogItem {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn price_points(&self) -> i32 {
        self.0.price_points
    }
    async fn stock(&self) -> i32 {
        self.0.stock
    }
    /// The resource of the three lists the item comes from, if any.
    async fn resource_id(&self) -> Option<ID> {
        self.0.resource_id.map(to_id)
    }
}

pub struct Redemption(pub redemption::Model);

#[Object]
impl Redemption {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn item(&self, ctx: &Context<'_>) -> Result<CatalogItem> {
        ctx.loaders()
            .catalog_item
            .load_one(self.0.item_id)
            .await
            .map_err(load_error)?
            .map(CatalogItem)
            .ok_or_else(|| {
                load_error(std::sync::Arc::new(sea_orm::DbErr::RecordNotFound(
                    "catalog item".into(),
                )))
            })
    }
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// Points spent.
    async fn points(&self) -> i32 {
        self.0.points
    }
    async fn status(&self) -> RedemptionStatus {
        self.0.status.into()
    }
    /// The code to show when picking the item up; only the member who
    /// redeemed sees it.
    async fn pickup_code(&self, ctx: &Context<'_>) -> Option<&str> {
        (ctx.actor() == Actor::User(self.0.user_id)).then_some(self.0.pickup_code.as_str())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

// ---------- service record ----------

pub struct ServiceRecordEntry(pub reports::ServiceEntry);

#[Object]
impl ServiceRecordEntry {
    async fn activity(&self) -> Activity {
        Activity(self.0.activity.clone())
    }
    async fn minutes(&self) -> i64 {
        self.0.minutes
    }
    async fn points(&self) -> i64 {
        self.0.points
    }
    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }
}

/// A volunteer's confirmed service in a community, to export.
pub struct ServiceRecord(pub ServiceRecordReport);

#[Object]
impl ServiceRecord {
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx
            .loaders()
            .user
            .load_one(self.0.user_id)
            .await
            .map_err(load_error)?
            .map(User::new))
    }
    async fn entries(&self) -> Vec<ServiceRecordEntry> {
        self.0
            .entries
            .iter()
            .cloned()
            .map(ServiceRecordEntry)
            .collect()
    }
    async fn total_minutes(&self) -> i64 {
        self.0.total_minutes
    }
    async fn total_points(&self) -> i64 {
        self.0.total_points
    }
    /// The record as CSV (UTF-8 with BOM, times in Asia/Shanghai) for a
    /// school or an employer.
    async fn csv(&self, ctx: &Context<'_>) -> Result<String> {
        let name = ctx
            .loaders()
            .user
            .load_one(self.0.user_id)
            .await
            .map_err(load_error)?
            .map(|u| u.display_name)
            .unwrap_or_default();
        Ok(reports::service_record_csv(&self.0, &name))
    }
}

// ---------- queries ----------

#[derive(Default)]
pub struct CreditsQuery;

#[Object]
impl CreditsQuery {
    /// The caller's points account in a community (members only).
    async fn my_account(&self, ctx: &Context<'_>, community_id: ID) -> Result<Account> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(Account(
            ledger::my_account(&ctx.state().db, &ctx.actor(), community_id).await?,
        ))
    }

    /// An account: its owner's, or any for staff and officers above.
    async fn account(&self, ctx: &Context<'_>, id: ID) -> Result<Account> {
        let id = parse_id(&id, "id")?;
        Ok(Account(
            ledger::visible_account(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// An account's statement, newest first.
    async fn postings(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Posting>> {
        let account_id = parse_id(&account_id, "accountId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows =
            ledger::account_postings(&ctx.state().db, &ctx.actor(), account_id, page).await?;
        Ok(connection(rows, |p| p.posting.id, Posting))
    }

    /// Volunteers ranked by the points (EARN, net of reversals) they earned
    /// in [from, to): a month, a year; only a team's members when `teamId`.
    async fn leaderboard(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        first: Option<i32>,
        team_id: Option<ID>,
    ) -> Result<Vec<LeaderboardRow>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let team_id = parse_opt_id(&team_id, "teamId")?;
        let rows = reports::leaderboard(
            &ctx.state().db,
            &ctx.actor(),
            community_id,
            from,
            to,
            team_id,
            first,
        )
        .await?;
        Ok(rows.into_iter().map(LeaderboardRow).collect())
    }

    /// The community's activities, newest first.
    async fn activities(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Activity>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows =
            activities::list_activities(&ctx.state().db, &ctx.actor(), community_id, page).await?;
        Ok(connection(rows, |a| a.id, Activity))
    }

    async fn activity(&self, ctx: &Context<'_>, id: ID) -> Result<Activity> {
        let id = parse_id(&id, "id")?;
        Ok(Activity(
            activities::visible_activity(&ctx.state().db, &ctx.actor(), id).await?,
        ))
    }

    /// The sign-ups of an activity, for its organiser and staff.
    async fn activity_sign_ups(&self, ctx: &Context<'_>, activity_id: ID) -> Result<Vec<SignUp>> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        let (_, rows) =
            activities::list_signups(&ctx.state().db, &ctx.actor(), activity_id).await?;
        Ok(rows.into_iter().map(SignUp).collect())
    }

    /// The catalogue of a community.
    async fn catalog_items(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<CatalogItem>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows = catalog::list_items(&ctx.state().db, &ctx.actor(), community_id, page).await?;
        Ok(connection(rows, |i| i.id, CatalogItem))
    }

    /// The caller's redemptions in a community, newest first.
    async fn my_redemptions(&self, ctx: &Context<'_>, community_id: ID) -> Result<Vec<Redemption>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let rows = catalog::my_redemptions(&ctx.state().db, &ctx.actor(), community_id).await?;
        Ok(rows.into_iter().map(Redemption).collect())
    }

    async fn credit_settings(&self, ctx: &Context<'_>, community_id: ID) -> Result<CreditSettings> {
        let community_id = parse_id(&community_id, "communityId")?;
        Ok(CreditSettings(
            settings::credit_settings(&ctx.state().db, &ctx.actor(), community_id).await?,
        ))
    }

    /// The community's volunteers, optionally with a skill (staff).
    async fn volunteers(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        skill: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LinliConnection<Volunteer>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let page = page_request_for(ctx, first, after)?;
        let rows =
            volunteers::list_volunteers(&ctx.state().db, &ctx.actor(), community_id, skill, page)
                .await?;
        Ok(connection(rows, |v| v.membership.id, Volunteer))
    }

    async fn volunteer_teams(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
    ) -> Result<Vec<VolunteerTeam>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let rows = volunteers::list_teams(&ctx.state().db, &ctx.actor(), community_id).await?;
        Ok(rows.into_iter().map(VolunteerTeam).collect())
    }

    /// A volunteer's service record (the caller's own, or anyone's for staff
    /// and officers), with a CSV export.
    async fn service_record(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        user_id: Option<ID>,
    ) -> Result<ServiceRecord> {
        let community_id = parse_id(&community_id, "communityId")?;
        let user_id = parse_opt_id(&user_id, "userId")?;
        Ok(ServiceRecord(
            reports::service_record(&ctx.state().db, &ctx.actor(), community_id, user_id).await?,
        ))
    }
}

// ---------- mutations ----------

#[derive(Default)]
pub struct CreditsMutation;

#[Object]
impl CreditsMutation {
    /// Staff create an activity (they organise it). `projectId` links a
    /// project of the three lists.
    #[allow(clippy::too_many_arguments)]
    async fn create_activity(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        title: String,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        capacity: i32,
        points_per_hour: i32,
        project_id: Option<ID>,
        description: Option<String>,
        place: Option<String>,
        #[graphql(default)] skills_wanted: Vec<String>,
    ) -> Result<Activity> {
        let input = NewActivity {
            community_id: parse_id(&community_id, "communityId")?,
            project_id: parse_opt_id(&project_id, "projectId")?,
            title,
            description,
            place,
            starts_at,
            ends_at,
            capacity,
            points_per_hour,
            skills_wanted,
        };
        Ok(Activity(
            activities::create_activity(&ctx.state().db, &ctx.actor(), input).await?,
        ))
    }

    /// A volunteer signs up: a place while there is one, else the waiting list.
    async fn sign_up_activity(&self, ctx: &Context<'_>, activity_id: ID) -> Result<Activity> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        let (found, _) = activities::sign_up(&ctx.state().db, &ctx.actor(), activity_id).await?;
        Ok(Activity(found))
    }

    /// A volunteer cancels before the start; the waiting list moves up.
    async fn cancel_sign_up(&self, ctx: &Context<'_>, activity_id: ID) -> Result<Activity> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        let (found, _) =
            activities::cancel_sign_up(&ctx.state().db, &ctx.actor(), activity_id).await?;
        Ok(Activity(found))
    }

    /// The organiser or staff cancel an activity before it starts, with a reason.
    async fn cancel_activity(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        reason: String,
    ) -> Result<Activity> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        Ok(Activity(
            activities::cancel_activity(&ctx.state().db, &ctx.actor(), activity_id, &reason)
                .await?,
        ))
    }

    /// The organiser shows a fresh check-in/out code: valid 10 minutes, and
    /// only from 30 minutes before the start to 30 minutes after the end.
    async fn show_check_in_code(&self, ctx: &Context<'_>, activity_id: ID) -> Result<CheckCode> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        Ok(CheckCode(
            activities::show_check_code(&ctx.state().db, &ctx.actor(), activity_id, Utc::now())
                .await?,
        ))
    }

    /// A volunteer checks in with the organiser's code.
    async fn check_in_activity(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        code: String,
    ) -> Result<SignUp> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        Ok(SignUp(
            activities::check_with_code(
                &ctx.state().db,
                &ctx.actor(),
                activity_id,
                &code,
                Check::In,
                Utc::now(),
            )
            .await?,
        ))
    }

    /// A volunteer checks out with the organiser's code.
    async fn check_out_activity(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        code: String,
    ) -> Result<SignUp> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        Ok(SignUp(
            activities::check_with_code(
                &ctx.state().db,
                &ctx.actor(),
                activity_id,
                &code,
                Check::Out,
                Utc::now(),
            )
            .await?,
        ))
    }

    /// The organiser checks in a volunteer who is present.
    async fn organiser_check_in(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        user_id: ID,
    ) -> Result<SignUp> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        let user_id = parse_id(&user_id, "userId")?;
        Ok(SignUp(
            activities::check_by_organiser(
                &ctx.state().db,
                &ctx.actor(),
                activity_id,
                user_id,
                Check::In,
                Utc::now(),
            )
            .await?,
        ))
    }

    /// The organiser checks out a volunteer.
    async fn organiser_check_out(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        user_id: ID,
    ) -> Result<SignUp> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        let user_id = parse_id(&user_id, "userId")?;
        Ok(SignUp(
            activities::check_by_organiser(
                &ctx.state().db,
                &ctx.actor(),
                activity_id,
                user_id,
                Check::Out,
                Utc::now(),
            )
            .await?,
        ))
    }

    /// Staff confirm the minutes each volunteer served after the activity,
    /// which posts their points (EARN). Returns the postings made, each seen
    /// from the receiving account. The same key and records return the first
    /// result; the same key with other records is a CONFLICT.
    async fn confirm_service(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        records: Vec<ServiceRecordInput>,
        idempotency_key: String,
    ) -> Result<Vec<Posting>> {
        let activity_id = parse_id(&activity_id, "activityId")?;
        let records = records
            .into_iter()
            .map(|r| {
                Ok(activities::ServiceRecord {
                    user_id: parse_id(&r.user_id, "records")?,
                    minutes: r.minutes,
                    reason: r.reason,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let posted = activities::confirm_service(
            &ctx.state().db,
            &ctx.actor(),
            activity_id,
            &records,
            &idempotency_key,
            Utc::now(),
        )
        .await?;
        Ok(posted.into_iter().map(Posting).collect())
    }

    /// A member gives points to another member (TRANSFER), as the
    /// community's transfer rule allows; seen from the giver's account.
    async fn transfer_points(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        to_user_id: ID,
        amount: i32,
        memo: Option<String>,
        idempotency_key: String,
    ) -> Result<Posting> {
        let input = TransferInput {
            community_id: parse_id(&community_id, "communityId")?,
            to_user_id: parse_id(&to_user_id, "toUserId")?,
            amount,
            memo,
            idempotency_key,
        };
        Ok(Posting(
            ledger::transfer_points(&ctx.state().db, &ctx.actor(), input).await?,
        ))
    }

    /// Staff correct an account against the issuing account (ADJUST),
    /// with a reason: a positive amount adds points, a negative one takes them.
    async fn adjust_points(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        amount: i32,
        reason: String,
        idempotency_key: String,
    ) -> Result<Posting> {
        let input = AdjustInput {
            account_id: parse_id(&account_id, "accountId")?,
            amount,
            reason,
            idempotency_key,
        };
        Ok(Posting(
            ledger::adjust_points(&ctx.state().db, &ctx.actor(), input).await?,
        ))
    }

    /// Staff reverse a posting with a reason: a new posting of the same kind
    /// back the other way. A posting is reversed at most once.
    async fn reverse_posting(
        &self,
        ctx: &Context<'_>,
        posting_id: ID,
        reason: String,
        idempotency_key: String,
    ) -> Result<Posting> {
        let posting_id = parse_id(&posting_id, "postingId")?;
        Ok(Posting(
            ledger::reverse_posting(
                &ctx.state().db,
                &ctx.actor(),
                posting_id,
                &reason,
                &idempotency_key,
            )
            .await?,
        ))
    }

    /// Staff expire, now, the points older than the community's validity
    /// period (the server also does it every hour). Running it again
    /// changes nothing.
    async fn expire_points(&self, ctx: &Context<'_>, community_id: ID) -> Result<ExpiryResult> {
        let community_id = parse_id(&community_id, "communityId")?;
        let report = ledger::run_expiry(&ctx.state().db, &ctx.actor(), community_id).await?;
        Ok(ExpiryResult {
            accounts: report.accounts,
            points: report.points,
        })
    }

    /// Staff set the community's time-credit rules.
    #[allow(clippy::too_many_arguments)]
    async fn update_credit_settings(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        points_per_hour_default: i32,
        daily_cap_minutes: i32,
        balance_cap: Option<i32>,
        validity_months: i32,
        transfer_policy: TransferPolicy,
    ) -> Result<CreditSettings> {
        let community_id = parse_id(&community_id, "communityId")?;
        let input = SettingsInput {
            points_per_hour_default,
            daily_cap_minutes,
            balance_cap,
            validity_months,
            transfer_policy: transfer_policy.into(),
        };
        Ok(CreditSettings(
            settings::update_credit_settings(&ctx.state().db, &ctx.actor(), community_id, input)
                .await?,
        ))
    }

    /// A volunteer sets their skills.
    async fn set_volunteer_skills(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        skills: Vec<String>,
    ) -> Result<Vec<String>> {
        let community_id = parse_id(&community_id, "communityId")?;
        let saved =
            volunteers::set_volunteer_skills(&ctx.state().db, &ctx.actor(), community_id, &skills)
                .await?;
        Ok(split_skills(&saved.skills))
    }

    /// Staff create a volunteer team with a volunteer as its leader.
    async fn create_volunteer_team(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        name: String,
        leader_id: ID,
    ) -> Result<VolunteerTeam> {
        let community_id = parse_id(&community_id, "communityId")?;
        let leader_id = parse_id(&leader_id, "leaderId")?;
        Ok(VolunteerTeam(
            volunteers::create_team(
                &ctx.state().db,
                &ctx.actor(),
                community_id,
                &name,
                leader_id,
            )
            .await?,
        ))
    }

    /// Staff or the team's leader add a volunteer.
    async fn add_team_member(
        &self,
        ctx: &Context<'_>,
        team_id: ID,
        user_id: ID,
    ) -> Result<VolunteerTeam> {
        let team_id = parse_id(&team_id, "teamId")?;
        let user_id = parse_id(&user_id, "userId")?;
        Ok(VolunteerTeam(
            volunteers::add_team_member(&ctx.state().db, &ctx.actor(), team_id, user_id).await?,
        ))
    }

    /// Staff or the team's leader remove a member (not the leader).
    async fn remove_team_member(
        &self,
        ctx: &Context<'_>,
        team_id: ID,
        user_id: ID,
    ) -> Result<VolunteerTeam> {
        let team_id = parse_id(&team_id, "teamId")?;
        let user_id = parse_id(&user_id, "userId")?;
        Ok(VolunteerTeam(
            volunteers::remove_team_member(&ctx.state().db, &ctx.actor(), team_id, user_id).await?,
        ))
    }

    /// Staff add an item to the catalogue, optionally from the resources list.
    #[allow(clippy::too_many_arguments)]
    async fn create_catalog_item(
        &self,
        ctx: &Context<'_>,
        community_id: ID,
        title: String,
        price_points: i32,
        stock: i32,
        resource_id: Option<ID>,
        description: Option<String>,
    ) -> Result<CatalogItem> {
        let input = NewItem {
            community_id: parse_id(&community_id, "communityId")?,
            resource_id: parse_opt_id(&resource_id, "resourceId")?,
            title,
            description,
            price_points,
            stock,
        };
        Ok(CatalogItem(
            catalog::create_item(&ctx.state().db, &ctx.actor(), input).await?,
        ))
    }

    /// Staff add stock to an item.
    async fn restock_catalog_item(
        &self,
        ctx: &Context<'_>,
        item_id: ID,
        quantity: i32,
    ) -> Result<CatalogItem> {
        let item_id = parse_id(&item_id, "itemId")?;
        Ok(CatalogItem(
            catalog::restock_item(&ctx.state().db, &ctx.actor(), item_id, quantity).await?,
        ))
    }

    /// A member redeems points for an item: stock reserved and points spent
    /// at once; returns the pick-up code. The same key returns the first
    /// redemption.
    async fn redeem(
        &self,
        ctx: &Context<'_>,
        item_id: ID,
        quantity: i32,
        idempotency_key: String,
    ) -> Result<Redemption> {
        let item_id = parse_id(&item_id, "itemId")?;
        Ok(Redemption(
            catalog::redeem(
                &ctx.state().db,
                &ctx.actor(),
                item_id,
                quantity,
                &idempotency_key,
            )
            .await?,
        ))
    }

    /// The member (or staff) cancels a reserved redemption: stock and points return.
    async fn cancel_redemption(&self, ctx: &Context<'_>, redemption_id: ID) -> Result<Redemption> {
        let redemption_id = parse_id(&redemption_id, "redemptionId")?;
        Ok(Redemption(
            catalog::cancel_redemption(&ctx.state().db, &ctx.actor(), redemption_id).await?,
        ))
    }

    /// Staff hand the item over on the member's pick-up code.
    async fn fulfil_redemption(
        &self,
        ctx: &Context<'_>,
        redemption_id: ID,
        pickup_code: String,
    ) -> Result<Redemption> {
        let redemption_id = parse_id(&redemption_id, "redemptionId")?;
        Ok(Redemption(
            catalog::fulfil_redemption(&ctx.state().db, &ctx.actor(), redemption_id, &pickup_code)
                .await?,
        ))
    }
}
