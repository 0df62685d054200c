//! Matching events against automations: the pure heart of the product.
//!
//! An [`Engine`] holds the enabled automations and, per project, a plan of which metrics are
//! watched, by whom, and how many values each needs. Evaluation takes an envelope and, for run
//! metrics, the run's [`RunRecord`]; it returns the fires and updates the record in place. No I/O:
//! loading and saving records and recording fires is the [`crate::ingest`] service's job.

mod index;
mod record;

pub use record::{PlainValues, RUN_RECORD_TTL, RunRecord, StoredRecord, WindowValues};

use crate::event::{ArtifactEvent, Envelope, EventData, MetricsEvent, RunStateEvent};
use crate::fire::{Fire, Subject};
use crate::model::condition::MetricCondition;
use crate::model::{Automation, RunState, Trigger};
use crate::time::Timestamp;
use crate::window::{AggSpec, Columns, MetricWindow, Watch};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Which automations read a metric, how many of its latest values the run must keep, and the
/// running aggregates their conditions read (shared where two read the same).
#[derive(Debug)]
struct MetricPlan {
    capacity: usize,
    specs: Arc<[AggSpec]>,
    /// Each automation (its position in the engine, and in the plan's `members`) with its
    /// condition compiled against `specs`.
    automations: Vec<(usize, usize, Watch)>,
}

/// The metric automations that apply to the runs of one project.
#[derive(Debug, Default)]
struct RunPlan {
    metrics: HashMap<String, MetricPlan>,
    /// The automations of `metrics`, each once: an envelope's per-automation state is indexed
    /// by position here, so it costs what the project's automations cost, not every tenant's.
    members: Vec<usize>,
}

/// The enabled automations, ready to evaluate events.
#[derive(Debug, Default)]
pub struct Engine {
    automations: Vec<Automation>,
    index: index::Index,
    /// Plans per (entity, project), built on first use.
    /// By entity, then project: looked up by `&str` at every envelope, with no key to allocate.
    plans: RwLock<HashMap<String, HashMap<String, Arc<RunPlan>>>>,
}

/// A metric automation whose run filter admits the envelope's run: its position in the engine
/// and in the plan's members, its cooldown, its condition and its running check.
type Admitted<'a> = (usize, usize, i64, &'a MetricCondition, &'a Watch);

/// What evaluating a metrics envelope did.
#[derive(Debug, Default)]
pub struct MetricOutcome {
    /// The fires the envelope caused; empty when nothing fired.
    pub fires: Vec<Fire>,
    /// The run record changed and must be saved.
    pub changed: bool,
}

impl Engine {
    /// An engine over `automations`; disabled ones are left out (they never fire).
    pub fn new(automations: impl IntoIterator<Item = Automation>) -> Engine {
        let automations: Vec<Automation> = automations.into_iter().filter(|a| a.enabled).collect();
        Engine { index: index::Index::new(&automations), automations, plans: RwLock::default() }
    }

    /// The enabled automations the engine evaluates, disabled ones already left out.
    pub fn automations(&self) -> &[Automation] {
        &self.automations
    }

    /// Evaluate any envelope. For metrics, `record` is the run's record (updated in place).
    pub fn evaluate(&self, env: &Envelope, record: Option<&mut RunRecord>) -> MetricOutcome {
        match &env.data {
            EventData::Artifact(a) => MetricOutcome { fires: self.artifact_fires(env, a), changed: false },
            EventData::RunState(s) => MetricOutcome { fires: self.run_state_fires(env, s), changed: false },
            EventData::Metrics(m) => match record {
                Some(r) => self.metric_fires(env, m, r),
                None => MetricOutcome::default(),
            },
            EventData::Heartbeat(_) => MetricOutcome::default(),
        }
    }

    /// Fires of an artifact or collection event: each matching automation once.
    pub fn artifact_fires(&self, env: &Envelope, ev: &ArtifactEvent) -> Vec<Fire> {
        let mut doc = None;
        let mut fires = Vec::new();
        for i in self.index.artifact(ev) {
            let a = &self.automations[i];
            let Trigger::Artifact { kind, filter } = &a.trigger else { continue };
            if *kind != ev.trigger || !a.scope.covers_artifact(&ev.entity, &ev.location, &ev.collection) {
                continue;
            }
            if !filter.filter.is_match_all() && !filter.filter.matches(doc.get_or_insert_with(|| ev.filter_doc())) {
                continue;
            }
            let subject = Subject::Artifact {
                location: ev.location.clone(),
                collection: ev.collection.clone(),
                collection_type: ev.collection_type.clone(),
                version: ev.version,
                alias: ev.alias.clone(),
                tag: ev.tag.clone(),
                aliases: ev.aliases.clone(),
                tags: ev.tags.clone(),
                author: ev.author.clone(),
                metadata: ev.metadata.clone(),
                source: ev.source.clone(),
            };
            fires.push(Fire::base(a, env, None, env.time, subject));
        }
        fires
    }

    /// Fires of a run state change. A change to `killed` never fires.
    pub fn run_state_fires(&self, env: &Envelope, ev: &RunStateEvent) -> Vec<Fire> {
        if ev.state == RunState::Killed {
            return Vec::new();
        }
        let key = &ev.run.key;
        let mut doc = None;
        let mut fires = Vec::new();
        for i in self.index.run_state(&key.entity, &key.project) {
            let a = &self.automations[i];
            let Trigger::RunState { run_filter, states } = &a.trigger else { continue };
            if !states.contains(&ev.state) || !a.scope.covers_run(&key.entity, &key.project) {
                continue;
            }
            if !run_filter.filter.is_match_all()
                && !run_filter.filter.matches(doc.get_or_insert_with(|| ev.run.filter_doc(ev.state)))
            {
                continue;
            }
            let subject = Subject::RunState { run: ev.run.clone(), state: ev.state, previous: ev.previous };
            fires.push(Fire::base(a, env, None, env.time, subject));
        }
        fires
    }

    /// Does any metric automation watch runs of this project? If not, its metrics need no state.
    pub fn watches_project(&self, entity: &str, project: &str) -> bool {
        !self.plan(entity, project).metrics.is_empty()
    }

    fn plan(&self, entity: &str, project: &str) -> Arc<RunPlan> {
        if let Some(p) = self.plans.read().unwrap_or_else(|e| e.into_inner()).get(entity).and_then(|ps| ps.get(project))
        {
            return p.clone();
        }
        // Per metric: capacity, aggregate specs, watching automations.
        type Draft = (usize, Vec<AggSpec>, Vec<(usize, usize, Watch)>);
        let mut drafts: HashMap<String, Draft> = HashMap::new();
        let mut members = Vec::new();
        for i in self.index.metric(entity, project) {
            let a = &self.automations[i];
            let Trigger::Metric { condition, .. } = &a.trigger else { continue };
            if !a.scope.covers_run(entity, project) {
                continue;
            }
            let (capacity, specs, automations) = drafts.entry(condition.metric().to_string()).or_default();
            *capacity = (*capacity).max(condition.needed());
            let watch = Watch::new(condition, specs);
            automations.push((i, members.len(), watch));
            members.push(i);
        }
        let metrics = drafts
            .into_iter()
            .map(|(name, (capacity, specs, automations))| {
                (name, MetricPlan { capacity, specs: specs.into(), automations })
            })
            .collect();
        let plan = Arc::new(RunPlan { metrics, members });
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(entity.to_string())
            .or_default()
            .insert(project.to_string(), plan.clone());
        plan
    }

    /// Take a metrics envelope's values into the run's windows, checking every watching
    /// automation after each value taken.
    pub fn metric_fires(&self, env: &Envelope, ev: &MetricsEvent, record: &mut RunRecord) -> MetricOutcome {
        let key = &ev.run.key;
        let plan = self.plan(&key.entity, &key.project);
        let mut out = MetricOutcome::default();
        if plan.metrics.is_empty() {
            return out;
        }
        // Per metric name of this envelope: its plan, and its window taken out of the record
        // (put back at the end) so the row loop indexes plain vectors.
        let plans: Vec<Option<&MetricPlan>> = ev.names.iter().map(|n| plan.metrics.get(n)).collect();
        let mut windows: Vec<Option<MetricWindow>> = ev
            .names
            .iter()
            .zip(&plans)
            .map(|(name, mp)| {
                let mp = (*mp)?;
                // Swapped out (an empty window, which allocates nothing, holds the place), so the
                // name is not cloned back in at the end.
                let mut w = match record.windows.get_mut(name) {
                    Some(slot) => std::mem::take(slot),
                    None => MetricWindow::with_capacity(mp.capacity),
                };
                if w.ring.capacity() != mp.capacity {
                    w.resize(mp.capacity);
                }
                // O(window) once when the record was just loaded; a no-op when it stayed cached.
                w.track(&mp.specs);
                Some(w)
            })
            .collect();
        // Per metric of the envelope: the automations whose run filter admits this run, with
        // what the row loop reads of them. Filters are pure, so deciding them once up front
        // (the run's filter document built at most once) changes nothing but the row loop's cost.
        let mut doc = None;
        let admitted: Vec<Vec<Admitted<'_>>> = plans
            .iter()
            .map(|mp| {
                let Some(mp) = mp else { return Vec::new() };
                mp.automations
                    .iter()
                    .filter_map(|(ai, mi, watch)| {
                        let Trigger::Metric { run_filter, condition, cooldown } = &self.automations[*ai].trigger else {
                            return None;
                        };
                        let ok = run_filter.filter.is_match_all()
                            || run_filter
                                .filter
                                .matches(doc.get_or_insert_with(|| ev.run.filter_doc(RunState::Running)));
                        ok.then_some((*ai, *mi, *cooldown, condition, watch))
                    })
                    .collect()
            })
            .collect();
        // Per automation of the plan (by its position in `members`): its last fire.
        let mut last_fire: Vec<Option<Timestamp>> = vec![None; plan.members.len()];
        for mp in plans.iter().flatten() {
            for &(ai, mi, _) in &mp.automations {
                last_fire[mi] = record.last_fires.get(&self.automations[ai].id).copied();
            }
        }
        // The envelope's values metric by metric (a counting sort), each metric's in row order,
        // with its row and its place in the row. A window then takes its values one after
        // another: row by row, ten metrics' windows of 500 were some fifty streams through
        // memory at once, more than the hardware prefetches, and windows of 500 cost twice
        // windows of 5. Windows and automations of different metrics share no state, so only
        // the order of fires changes, and it is restored below.
        let by_metric = ByMetric::of(ev);
        // Each fire with its row and place, to put fires back in the order of rows and values.
        let mut keyed: Vec<((u32, u32), Fire)> = Vec::new();
        let mut took_any = false;
        // The values a window takes (where they came from, and the values), and what a batch
        // recorded: reused metric after metric.
        let mut places: Vec<(u32, u32)> = Vec::new();
        let mut taken: Vec<f64> = Vec::new();
        let mut cols = Columns::default();
        // An automation whose pre-check said "maybe" after a value: its cooldown, then the
        // reference check over the window as it stood (`latest`) decide.
        let mut consider = |idx: usize, adm: &Admitted<'_>, (r, place): (u32, u32), latest: &[f64]| {
            let &(ai, mi, cooldown, condition, _) = adm;
            let row = &ev.rows[r as usize];
            let t = row.time.unwrap_or(env.time);
            // Level-triggered cooldown: a row older than the last fire stays inside it.
            if last_fire[mi].is_some_and(|last| t.since(last) < cooldown) {
                return;
            }
            let Some(observed) = condition.check(latest) else { return };
            let name = &ev.names[idx];
            let subject = Subject::Metric {
                run: ev.run.clone(),
                metric: name.clone(),
                step: row.step,
                values: latest.to_vec(),
                observed,
                condition: condition.clone(),
            };
            let fire = Fire::base(&self.automations[ai], env, Some((name, row.step)), t, subject);
            keyed.push(((r, place), fire));
            last_fire[mi] = Some(t);
        };
        for (idx, w) in windows.iter_mut().enumerate() {
            let Some(w) = w.as_mut() else { continue };
            // The values the window takes, in order: written at `n` whether taken or not, and
            // `n` moved past them only if taken (a branch a value cost more than both stores).
            let count = by_metric.count(idx);
            if taken.len() < count {
                taken.resize(count, 0.0);
                places.resize(count, (0, 0));
            }
            let mut n = 0;
            by_metric.each(ev, idx, |r, place, value| {
                let ok = w.admit(ev.rows[r as usize].step, value).is_ok();
                taken[n] = value;
                places[n] = (r, place);
                n += usize::from(ok);
            });
            if n == 0 {
                continue;
            }
            took_any = true;
            // One at a time until the window is full and in step (a run's first values, or a
            // record just loaded whose aggregates are rebuilt on the way).
            let mut from = 0;
            while from < n && !w.batches() {
                let (at, value) = (places[from], taken[from]);
                from += 1;
                let in_step = w.push(value);
                for adm in &admitted[idx] {
                    // O(1): rules out the condition unless it holds or is within rounding of its
                    // boundary; then the reference check over the window decides, exactly. Both
                    // tests are pure, so asking this one first (it almost always says no) spares
                    // the cooldown's test without changing a fire.
                    if in_step && !w.might_hold_in_step(adm.4) {
                        continue;
                    }
                    consider(idx, adm, at, w.ring.last(adm.3.needed()));
                }
            }
            if from == n {
                continue;
            }
            // The steady state: every aggregate steps through the rest in its own loop, then
            // each automation reads the columns; the same answers as value by value.
            w.push_batch(&taken[from..n], &mut cols);
            let places = &places[from..n];
            for adm in &admitted[idx] {
                let needed = adm.3.needed();
                cols.scan(adm.4, |i| consider(idx, adm, places[i], cols.last(i, needed)));
            }
        }
        let fired_any = !keyed.is_empty();
        // Stable: the fires of one value stay in the order of the automations.
        keyed.sort_by_key(|(key, _)| *key);
        out.fires = keyed.into_iter().map(|(_, fire)| fire).collect();
        for (name, w) in ev.names.iter().zip(windows) {
            if let Some(w) = w {
                match record.windows.get_mut(name) {
                    Some(slot) => *slot = w,
                    None => {
                        record.windows.insert(name.clone(), w);
                    }
                }
            }
        }
        if fired_any {
            for (mi, t) in last_fire.iter().enumerate() {
                if let Some(t) = t {
                    record.last_fires.insert(self.automations[plan.members[mi]].id.clone(), *t);
                }
            }
        }
        if took_any || fired_any {
            record.last_event = Some(record.last_event.map_or(env.time, |t| t.max(env.time)));
        }
        out.changed = took_any || fired_any;
        out
    }
}

/// An envelope's values metric by metric, each metric's in row order, with its row and its
/// place in the row.
enum ByMetric {
    /// Every row lists the same metrics, each once, in the same order (as a tracker that logs
    /// a fixed set does): metric `idx` is at `places[idx]` of every row, nothing to move.
    Regular { width: usize, rows: usize, places: Vec<Option<u32>> },
    /// Any other layout, sorted by metric (a counting sort, stable): metric `idx` has
    /// `values[starts[idx]..starts[idx + 1]]`.
    Sorted { starts: Vec<usize>, values: Vec<(u32, u32, f64)> },
}

impl ByMetric {
    fn of(ev: &MetricsEvent) -> ByMetric {
        let width = ev.rows.first().map_or(0, |r| r.values.len());
        let first = &ev.values[..width.min(ev.values.len())];
        let mut places = vec![None; ev.names.len()];
        let mut distinct = true;
        for (place, &(idx, _)) in first.iter().enumerate() {
            distinct &= places[idx as usize].replace(place as u32).is_none();
        }
        let regular = distinct
            && width > 0
            && ev.values.len() == width * ev.rows.len()
            && ev.rows.iter().enumerate().all(|(r, row)| row.values.start == r * width && row.values.len() == width)
            && ev.values.chunks_exact(width).all(|row| row.iter().zip(first).all(|(a, b)| a.0 == b.0));
        if regular {
            return ByMetric::Regular { width, rows: ev.rows.len(), places };
        }
        let mut starts = vec![0usize; ev.names.len() + 1];
        for &(idx, _) in &ev.values {
            starts[idx as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut values: Vec<(u32, u32, f64)> = vec![(0, 0, 0.0); ev.values.len()];
        for (r, (_, row)) in ev.rows_with_values().enumerate() {
            for (place, &(idx, value)) in row.iter().enumerate() {
                let at = &mut next[idx as usize];
                values[*at] = (r as u32, place as u32, value);
                *at += 1;
            }
        }
        ByMetric::Sorted { starts, values }
    }

    /// How many values metric `idx` has.
    fn count(&self, idx: usize) -> usize {
        match self {
            ByMetric::Regular { places, rows, .. } => places[idx].map_or(0, |_| *rows),
            ByMetric::Sorted { starts, .. } => starts[idx + 1] - starts[idx],
        }
    }

    /// `f(row, place in the row, value)` for metric `idx`'s values, in row order.
    #[inline(always)]
    fn each(&self, ev: &MetricsEvent, idx: usize, mut f: impl FnMut(u32, u32, f64)) {
        match self {
            ByMetric::Regular { width, places, .. } => {
                let Some(place) = places[idx] else { return };
                for (r, &(_, v)) in ev.values[place as usize..].iter().step_by(*width).enumerate() {
                    f(r as u32, place, v);
                }
            }
            ByMetric::Sorted { starts, values } => {
                for &(r, place, v) in &values[starts[idx]..starts[idx + 1]] {
                    f(r, place, v);
                }
            }
        }
    }
}
