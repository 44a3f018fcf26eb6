//! What the goals, annotations and segments pages show: rows with the
//! values their forms are filled in with, and whether the user may change
//! each.

use crate::analyst::annotations::{Annotation, Editor};
use crate::analyst::funnels::{Funnel, MAX_STEPS};
use crate::analyst::goals::{cents_text, Goal, GoalKind};
use crate::analyst::segments::Segment;

pub struct GoalRow {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub definition: String,
    pub pattern: String,
    pub event: String,
    pub property_key: String,
    pub property_value: String,
    pub min_value: String,
    pub by: String,
}

/// The goals' forms on `/goals`.
pub struct GoalsManager {
    pub rows: Vec<GoalRow>,
    /// The user may create, edit and delete goals (`dashboards.goal_editors`).
    pub can_edit: bool,
    /// Where a form sends the user back to (this page, with its question).
    pub back: String,
}

pub fn goal_rows(goals: &[Goal]) -> Vec<GoalRow> {
    goals
        .iter()
        .map(|g| {
            let mut row = GoalRow {
                id: g.id,
                name: g.name.clone(),
                kind: g.kind.kind_name(),
                definition: g.kind.definition(),
                pattern: String::new(),
                event: String::new(),
                property_key: String::new(),
                property_value: String::new(),
                min_value: String::new(),
                by: g.created_by.clone().unwrap_or_else(|| "(deleted user)".into()),
            };
            match &g.kind {
                GoalKind::Pageview { pattern } => row.pattern = pattern.clone(),
                GoalKind::Event { name, property } => {
                    row.event = name.clone();
                    if let Some((k, v)) = property {
                        (row.property_key, row.property_value) = (k.clone(), v.clone());
                    }
                }
                GoalKind::Purchase { min_cents } => row.min_value = min_cents.map(cents_text).unwrap_or_default(),
            }
            row
        })
        .collect()
}

pub struct AnnotationRow {
    pub id: i64,
    pub day: String,
    pub text: String,
    pub author: String,
    pub can_edit: bool,
}

/// Newest first.
pub fn annotation_rows(list: &[Annotation], by: Editor) -> Vec<AnnotationRow> {
    list.iter()
        .rev()
        .map(|a| AnnotationRow {
            id: a.id,
            day: a.day.to_string(),
            text: a.text.clone(),
            author: a.author.clone().unwrap_or_else(|| "(deleted user)".into()),
            can_edit: by.may_change(a.author_id),
        })
        .collect()
}

pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub filters: Vec<String>,
    /// The overview with the segment applied.
    pub apply: String,
    pub owner: String,
    pub shared: bool,
    pub can_edit: bool,
}

pub fn segment_rows(list: &[Segment], by: Editor) -> Vec<SegmentRow> {
    list.iter()
        .map(|s| SegmentRow {
            id: s.id,
            name: s.name.clone(),
            filters: s.filters.clone(),
            apply: format!("/?{}", s.params()),
            owner: s.owner.clone(),
            shared: s.shared,
            can_edit: by.may_change(Some(s.owner_id)),
        })
        .collect()
}

pub struct FunnelRow {
    pub id: i64,
    pub name: String,
    pub definition: String,
    pub window_minutes: u32,
    /// `(kind, value)` for each of the form's step rows, the unused empty.
    pub steps: Vec<(String, String)>,
    /// This page walking it.
    pub href: String,
    pub current: bool,
    pub by: String,
}

/// The funnels' list and forms on `/funnels`.
pub struct FunnelsManager {
    pub rows: Vec<FunnelRow>,
    /// The purchase funnel's link (the default).
    pub default_href: String,
    pub default_current: bool,
    pub back: String,
    /// Step rows of the empty form.
    pub blank: Vec<usize>,
}

/// `href(funnel name)` gives the page walking that funnel.
pub fn funnel_rows(funnels: &[Funnel], chosen: Option<&str>, href: impl Fn(Option<&str>) -> String) -> (Vec<FunnelRow>, String) {
    let rows = funnels
        .iter()
        .map(|f| {
            let mut steps: Vec<(String, String)> = f.steps.iter().map(|s| (s.kind_name().to_string(), s.value().to_string())).collect();
            steps.resize(MAX_STEPS, ("pageview".into(), String::new()));
            FunnelRow {
                id: f.id,
                name: f.name.clone(),
                definition: f.definition(),
                window_minutes: f.window_secs / 60,
                steps,
                href: href(Some(&f.name)),
                current: chosen == Some(f.name.as_str()),
                by: f.created_by.clone().unwrap_or_else(|| "(deleted user)".into()),
            }
        })
        .collect();
    (rows, href(None))
}
