//! Scheduled reports: a weekly (Monday to Sunday) or monthly e-mail with
//! the top metrics and their changes against the period before, the top
//! sources and pages, and the goals' conversions, sent to each user who
//! subscribed on `/account`.
//!
//! The numbers are the dashboards' own, read through the release layer as
//! the subscriber (the unfiltered ones from the cells everyone reads, the
//! goals' from cells the subscriber's budget pays for once), so a report
//! says exactly what the pages say for that period. A period is sent once
//! its days are all released, once per subscriber: the last period sent is
//! recorded, so a restart never sends twice.

use rusqlite::{params, OptionalExtension};

use super::mail::escape;
use super::Senders;
use crate::accounts::{AccountError, Accounts, User};
use crate::query::{Day, Range, StatsQuery};
use crate::release::{Ask, ReleasedMetrics};
use crate::stats::{Metric, Report};
use crate::table::Cell;
use crate::views::{Ctx, TableName};

/// How often a subscriber gets a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn parse(s: &str) -> Option<Frequency> {
        match s {
            "weekly" => Some(Frequency::Weekly),
            "monthly" => Some(Frequency::Monthly),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
        }
    }

    /// The last whole period before `today`: last Monday to Sunday, or
    /// last calendar month.
    pub fn last_period(self, today: Day) -> Range {
        match self {
            Frequency::Weekly => {
                let monday = Day(today.0 - today.date().weekday().number_days_from_monday() as i32);
                Range { from: Day(monday.0 - 7), until: monday }
            }
            Frequency::Monthly => {
                let first = Day(today.0 - (today.date().day() as i32 - 1));
                let before = Day(first.0 - 1);
                Range { from: Day(before.0 - (before.date().day() as i32 - 1)), until: first }
            }
        }
    }
}

/// A user's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub user_id: i64,
    pub email: String,
    pub frequency: Frequency,
    /// The start (days since 1970) of the last period sent; -1 for none.
    pub last_period: i32,
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    let f: String = row.get(2)?;
    Ok(Subscription { user_id: row.get(0)?, email: row.get(1)?, frequency: Frequency::parse(&f).unwrap_or(Frequency::Weekly), last_period: row.get(3)? })
}

impl Accounts {
    pub fn subscription(&self, user_id: i64) -> Result<Option<Subscription>, AccountError> {
        Ok(self.db().query_row("SELECT user_id, email, frequency, last_period FROM report_subscriptions WHERE user_id = ?1", [user_id], from_row).optional()?)
    }

    /// Subscribes (or, with `None`, unsubscribes) `user_id`.
    pub fn set_subscription(&self, user_id: i64, to: Option<(&str, Frequency)>) -> Result<(), AccountError> {
        let db = self.db();
        match to {
            Some((email, f)) => db.execute(
                "INSERT INTO report_subscriptions (user_id, email, frequency) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user_id) DO UPDATE SET email = excluded.email, frequency = excluded.frequency,
                 last_period = CASE WHEN frequency = excluded.frequency THEN last_period ELSE -1 END",
                params![user_id, email.trim(), f.name()],
            )?,
            None => db.execute("DELETE FROM report_subscriptions WHERE user_id = ?1", [user_id])?,
        };
        Ok(())
    }

    /// Every subscription with its user.
    pub fn subscriptions(&self) -> Result<Vec<(User, Subscription)>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(
            "SELECT s.user_id, s.email, s.frequency, s.last_period, u.id, u.name, u.roles, u.disabled, u.created_at
             FROM report_subscriptions s JOIN users u ON u.id = s.user_id ORDER BY s.user_id",
        )?;
        let out = stmt.query_map([], |r| Ok((crate::accounts::user_at(r, 4)?, from_row(r)?)))?.collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    pub fn mark_report_sent(&self, user_id: i64, period_start: Day) -> Result<(), AccountError> {
        self.db().execute("UPDATE report_subscriptions SET last_period = ?2 WHERE user_id = ?1", params![user_id, period_start.0])?;
        Ok(())
    }
}

/// A report, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One line of the report: a label, the value as the pages show it, and
/// its change.
struct Line {
    label: String,
    value: String,
    change: String,
}

fn change(now: &crate::release::Noisy, before: Option<&crate::release::Noisy>) -> String {
    match before.and_then(|b| now.change(b)) {
        Some(c) => format!("{}{:.1} %", if c > 0.0 { "+" } else if c < 0.0 { "−" } else { "" }, (c * 100.0).abs()),
        None => String::new(),
    }
}

fn top_lines(now: &ReleasedMetrics, before: Option<&ReleasedMetrics>) -> Vec<Line> {
    [Metric::Visits, Metric::Pageviews, Metric::BounceRate, Metric::Duration, Metric::Conversion, Metric::Revenue]
        .into_iter()
        .map(|m| Line { label: m.label().into(), value: now.of(m).display(), change: change(&now.of(m), before.map(|b| b.of(m)).as_ref()) })
        .collect()
}

/// The first `n` rows of a released table as `(label, value)` from columns 0 and `col`.
fn table_lines(t: &crate::table::Table, col: usize, n: usize) -> Vec<Line> {
    t.rows.iter().filter(|r| !r.folded).take(n).map(|r| Line { label: r.cells[0].display(), value: r.cells.get(col).map(Cell::display).unwrap_or_default(), change: String::new() }).collect()
}

/// What a report for `period` says, read through `ctx` (its question is
/// the period, compared with the one before).
pub async fn compose(ctx: &Ctx<'_>, frequency: Frequency, period: Range, link: &str) -> crate::views::Result<Option<Mail>> {
    let (now, before, pending) = ctx.top().await?;
    if !pending.is_empty() {
        // Not every day is released yet: the report waits for them.
        return Ok(None);
    }
    let total = now.of(Metric::Visits);
    let panels = ctx.reports(&[Report::Referrers, Report::Pages], total).await?;
    let goals = if ctx.q.goals.is_empty() { None } else { Some(ctx.table(TableName::Conversions).await?) };
    let last = Day(period.until.0 - 1);
    let title = format!("{} report, {} – {last}", if frequency == Frequency::Weekly { "Weekly" } else { "Monthly" }, period.from);
    let mut sections: Vec<(String, Vec<Line>)> = vec![("The store".into(), top_lines(&now, before.as_ref()))];
    sections.push(("Top sources".into(), table_lines(&panels[0], 1, 5)));
    sections.push(("Top pages".into(), table_lines(&panels[1], 1, 5)));
    if let Some(g) = &goals {
        let lines = g.rows.iter().map(|r| Line { label: r.cells[0].display(), value: format!("{} conversions", r.cells[2].display()), change: r.cells[3].display() }).collect();
        sections.push(("Goals".into(), lines));
    }
    let mut text = format!("mintmark · {title}\nChanges are against the period before. Every number is released with noise, like on the pages.\n");
    let mut html = format!("<!doctype html><html><body style=\"font-family: sans-serif\"><h1>{}</h1><p>Changes are against the period before. Every number is released with noise, like on the pages.</p>", escape(&title));
    for (name, lines) in &sections {
        text.push_str(&format!("\n{name}\n"));
        html.push_str(&format!("<h2>{}</h2><table>", escape(name)));
        for l in lines {
            text.push_str(&format!("  {}: {}{}\n", l.label, l.value, if l.change.is_empty() { String::new() } else { format!(" ({})", l.change) }));
            html.push_str(&format!("<tr><td>{}</td><td style=\"text-align:right\">{}</td><td>{}</td></tr>", escape(&l.label), escape(&l.value), escape(&l.change)));
        }
        html.push_str("</table>");
    }
    text.push_str(&format!("\nThe dashboards: {link}\nUnsubscribe on your account page.\n"));
    html.push_str(&format!("<p><a href=\"{}\">Open the dashboards</a> · unsubscribe on your account page.</p></body></html>", escape(link)));
    Ok(Some(Mail { subject: format!("mintmark: {title}"), text, html }))
}

/// Sends every report that is due; returns how many were sent.
pub async fn send_due(s: &Senders, today: Day) -> anyhow::Result<usize> {
    if !s.mailer.enabled() {
        return Ok(0);
    }
    let subscriptions = s.accounts(|a| a.subscriptions()).await?;
    let (goals, funnels) = s.accounts(|a| Ok((a.goals()?, a.funnels()?))).await?;
    let mut sent = 0;
    for (user, sub) in subscriptions {
        if user.disabled || !user.roles.allow(crate::roles::Role::Analyst) {
            continue;
        }
        let period = sub.frequency.last_period(today);
        if sub.last_period == period.from.0 {
            continue;
        }
        let params = vec![
            ("period".to_string(), "custom".to_string()),
            ("from".to_string(), period.from.to_string()),
            ("to".to_string(), Day(period.until.0 - 1).to_string()),
            ("compare".to_string(), "previous".to_string()),
        ];
        let q = StatsQuery::from_params(&params, today)?.with_goals(&goals)?.with_funnels(&funnels)?;
        let ctx = Ctx { client: &s.client, t2: &s.t2, q: &q, today, releaser: &s.releaser, ask: Ask::new(&s.client, &s.t2, &q, user.id, today), crosssell_marketplace: false, user: user.id };
        let Some(mail) = compose(&ctx, sub.frequency, period, &s.base_url).await? else { continue };
        s.audited(&user, &format!("/reports/{}", sub.frequency.name()), &q.to_params(), 0).await?;
        s.mailer.send(&sub.email, &mail.subject, mail.text, mail.html).await?;
        let (id, from) = (user.id, period.from);
        s.accounts(move |a| a.mark_report_sent(id, from)).await?;
        tracing::info!(user = %user.name, period = %period.from, "report sent");
        sent += 1;
    }
    Ok(sent)
}

/// Runs [`send_due`] every `every` until the process ends.
pub async fn keep_sending(s: std::sync::Arc<Senders>, every: std::time::Duration) {
    super::repeat(every, "sending reports", || {
        let s = s.clone();
        async move { send_due(&s, Day::today()).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_the_last_whole_week_and_month() {
        let d = |s: &str| Day::parse(s).unwrap();
        // Thursday 2026-12-03: last week is Monday 23 to Sunday 29 November.
        assert_eq!(Frequency::Weekly.last_period(d("2026-12-03")), Range { from: d("2026-11-23"), until: d("2026-11-30") });
        assert_eq!(Frequency::Weekly.last_period(d("2026-11-30")), Range { from: d("2026-11-23"), until: d("2026-11-30") }, "on a Monday");
        assert_eq!(Frequency::Monthly.last_period(d("2026-12-03")), Range { from: d("2026-11-01"), until: d("2026-12-01") });
        assert_eq!(Frequency::Monthly.last_period(d("2026-01-01")), Range { from: d("2025-12-01"), until: d("2026-01-01") });
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }

    #[test]
    fn subscriptions_are_kept_per_user_and_a_new_frequency_starts_over() {
        let a = Accounts::in_memory().unwrap();
        let u = a.add_user("ana", "a long enough password", crate::roles::Roles::of(&[crate::roles::Role::Analyst])).unwrap();
        a.set_subscription(u.id, Some(("ana@store.example", Frequency::Weekly))).unwrap();
        a.mark_report_sent(u.id, Day(20_000)).unwrap();
        assert_eq!(a.subscription(u.id).unwrap().unwrap().last_period, 20_000);
        a.set_subscription(u.id, Some(("ana@store.example", Frequency::Weekly))).unwrap();
        assert_eq!(a.subscription(u.id).unwrap().unwrap().last_period, 20_000, "the same subscription keeps what it sent");
        a.set_subscription(u.id, Some(("ana@store.example", Frequency::Monthly))).unwrap();
        assert_eq!(a.subscription(u.id).unwrap().unwrap().last_period, -1);
        assert_eq!(a.subscriptions().unwrap().len(), 1);
        a.set_subscription(u.id, None).unwrap();
        assert!(a.subscription(u.id).unwrap().is_none());
    }
}
