//! The health-related `rn_*` series of a Radix node's metrics page, extracted from one scrape,
//! by the names the Radix node-health document gives them.

use crate::exposition::{self, ExpositionError, Limits, ParseStats, Sample};

/// Counters of the consensus rounds led by one validator, by resolution
/// (`rn_ledger_consensus_rounds_committed{round_resolution=…}`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoundCounts {
    pub successful: f64,
    pub missed_by_fallback: f64,
    pub missed_by_gap: f64,
}

/// What one scrape of a Radix node's metrics says about its health. `None` = series absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RadixMetrics {
    /// `rn_ledger_overall_health_factor`: the node's own factor.
    pub overall_health_factor: Option<f64>,
    /// `rn_ledger_last_update_epoch_second`.
    pub last_update_epoch_second: Option<f64>,
    /// `rn_ledger_last_update_proposer_epoch_second`.
    pub last_update_proposer_epoch_second: Option<f64>,
    /// `rn_ledger_recent_proposer_timestamp_progress_rate`.
    pub progress_rate: Option<f64>,
    /// `rn_ledger_recent_self_proposal_miss_count`.
    pub recent_self_proposal_miss_count: Option<f64>,
    /// `rn_ledger_state_version`.
    pub ledger_state_version: Option<f64>,
    /// `rn_ledger_consensus_rounds_committed` for rounds led by this node's own validator
    /// (its address from `rn_misc_config_info{configured_validator_address}`), when known.
    pub own_rounds: Option<RoundCounts>,
    /// `rn_ledger_consensus_rounds_committed{round_resolution="MissedByGap"}` summed over every
    /// leader: "gaps in round numbers most likely denote problems with liveness of the entire
    /// Network".
    pub rounds_missed_by_gap: Option<f64>,
    /// `rn_sync_current_state_version`.
    pub sync_current_state_version: Option<f64>,
    /// `rn_sync_target_state_version` (announced by peers, unvalidated).
    pub sync_target_state_version: Option<f64>,
    /// `rn_sync_target_proposer_timestamp_epoch_second` (announced by peers, unvalidated).
    pub sync_target_proposer_timestamp_epoch_second: Option<f64>,
    /// Sum over reasons of `rn_sync_unexpected_responses_received_total`.
    pub sync_unexpected_responses: Option<f64>,
    /// Sum over reasons of `rn_sync_invalid_responses_received_total`.
    pub sync_invalid_responses: Option<f64>,
    /// `rn_sync_invalid_responses_received_total{reason="MISMATCHED_TRANSACTION_ROOT"}`.
    pub sync_mismatched_transaction_root: Option<f64>,
    /// Sum over labels of `rn_bft_rejected_consensus_events_total`.
    pub bft_rejected_consensus_events: Option<f64>,
    /// `rn_bft_in_validator_set` (1 = true).
    pub in_validator_set: Option<bool>,
    /// `rn_bft_proposal_timestamp_difference_seconds`: the least and the greatest sample (over
    /// keys, and over quantiles when exposed as a summary; `_sum`/`_count` are other series).
    /// The document judges the node's clock by "all the numbers observed here".
    pub proposal_timestamp_differences: Option<(f64, f64)>,
    /// `rn_misc_wallclock_epoch_second`: the node's clock.
    pub wallclock_epoch_second: Option<f64>,
    /// `rn_misc_config_info{configured_validator_address}`.
    pub configured_validator_address: Option<String>,
    /// `rn_misc_config_info{branch_and_commit}`.
    pub branch_and_commit: Option<String>,
    /// Gauges on the page whose every sample was NaN or ±Inf: the series is there, its figure
    /// is not a number (name, the first such value).
    pub not_numbers: Vec<(&'static str, f64)>,
    /// How the page parsed (lines skipped as invalid, …).
    pub stats: ParseStats,
}

impl RadixMetrics {
    /// Extracts the health series from one metrics page.
    ///
    /// Gauges: the first finite sample (NaN and ±Inf read as absent, and are listed in
    /// `not_numbers` when no finite sample follows). Summed counters: samples that are not
    /// finite are left out, and a family with no sample at all stays `None`. Label values that
    /// are empty count as absent (the node writes `configured_validator_address=""` when it has
    /// no validator).
    pub fn from_exposition(body: &[u8]) -> Result<RadixMetrics, ExpositionError> {
        let mut m = RadixMetrics::default();
        // `rn_misc_config_info` may come after the rounds, so they wait for the address.
        let mut rounds: Vec<Sample<'_>> = Vec::new();
        let keep = |name: &str| Series::of(name).is_some();
        let stats = exposition::parse(body, &Limits::default(), keep, |sample| {
            let Some(series) = Series::of(sample.name) else {
                return;
            };
            m.record(series, sample, &mut rounds);
        })?;
        m.own_rounds = m
            .configured_validator_address
            .as_deref()
            .and_then(|own| own_rounds(&rounds, own));
        for row in rounds.iter().filter(|r| r.value.is_finite()) {
            if row.label("round_resolution").as_deref() == Some("MissedByGap") {
                add(&mut m.rounds_missed_by_gap, row.value);
            }
        }
        if !rounds.is_empty() && m.rounds_missed_by_gap.is_none() {
            // The family is there: no gap counted yet (counters only appear once incremented).
            m.rounds_missed_by_gap = Some(0.0);
        }
        m.stats = stats;
        let mut not_numbers = std::mem::take(&mut m.not_numbers);
        not_numbers.retain(|(name, _)| {
            Series::of(name)
                .and_then(|s| m.gauge(s))
                .is_some_and(|slot| slot.is_none())
        });
        m.not_numbers = not_numbers;
        Ok(m)
    }

    /// The field of a gauge read as its first finite sample.
    fn gauge(&mut self, series: Series) -> Option<&mut Option<f64>> {
        Some(match series {
            Series::OverallHealthFactor => &mut self.overall_health_factor,
            Series::LastUpdateEpochSecond => &mut self.last_update_epoch_second,
            Series::LastUpdateProposerEpochSecond => &mut self.last_update_proposer_epoch_second,
            Series::ProgressRate => &mut self.progress_rate,
            Series::RecentSelfProposalMissCount => &mut self.recent_self_proposal_miss_count,
            Series::LedgerStateVersion => &mut self.ledger_state_version,
            Series::SyncCurrentStateVersion => &mut self.sync_current_state_version,
            Series::SyncTargetStateVersion => &mut self.sync_target_state_version,
            Series::SyncTargetProposerTimestamp => &mut self.sync_target_proposer_timestamp_epoch_second,
            Series::WallclockEpochSecond => &mut self.wallclock_epoch_second,
            _ => return None,
        })
    }

    fn record<'a>(&mut self, series: Series, sample: Sample<'a>, rounds: &mut Vec<Sample<'a>>) {
        let v = sample.value;
        if let Some(slot) = self.gauge(series) {
            if v.is_finite() {
                slot.get_or_insert(v);
            } else if !self.not_numbers.iter().any(|(name, _)| *name == series.name()) {
                self.not_numbers.push((series.name(), v));
            }
            return;
        }
        match series {
            Series::RoundsCommitted => rounds.push(sample),
            Series::SyncUnexpectedResponses => add(&mut self.sync_unexpected_responses, v),
            Series::SyncInvalidResponses => {
                add(&mut self.sync_invalid_responses, v);
                if sample.label("reason").as_deref() == Some("MISMATCHED_TRANSACTION_ROOT") {
                    add(&mut self.sync_mismatched_transaction_root, v);
                }
            }
            Series::BftRejectedConsensusEvents => add(&mut self.bft_rejected_consensus_events, v),
            Series::InValidatorSet if self.in_validator_set.is_none() && v.is_finite() => {
                // A 0/1 gauge written as a float: anything from one half up is "1".
                self.in_validator_set = Some(v >= 0.5);
            }
            Series::ProposalTimestampDifference if v.is_finite() => {
                let (lo, hi) = self.proposal_timestamp_differences.unwrap_or((v, v));
                self.proposal_timestamp_differences = Some((lo.min(v), hi.max(v)));
            }
            Series::ConfigInfo => {
                first_label(
                    &mut self.configured_validator_address,
                    &sample,
                    "configured_validator_address",
                );
                first_label(&mut self.branch_and_commit, &sample, "branch_and_commit");
            }
            // Gauges (read above), and series already known or not numbers.
            _ => {}
        }
    }
}

/// The families [`RadixMetrics`] reads. Everything else on the page is dropped by the parser's
/// name filter before its labels are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    OverallHealthFactor,
    LastUpdateEpochSecond,
    LastUpdateProposerEpochSecond,
    ProgressRate,
    RecentSelfProposalMissCount,
    LedgerStateVersion,
    RoundsCommitted,
    SyncCurrentStateVersion,
    SyncTargetStateVersion,
    SyncTargetProposerTimestamp,
    SyncUnexpectedResponses,
    SyncInvalidResponses,
    BftRejectedConsensusEvents,
    InValidatorSet,
    ProposalTimestampDifference,
    WallclockEpochSecond,
    ConfigInfo,
}

/// Each family by its exact sample name, as the node writes it: the Java writer's counters end
/// in `_total`, the Rust writer's (`rn_ledger_consensus_rounds_committed`) do not.
const SERIES: [(&str, Series); 17] = [
    ("rn_ledger_overall_health_factor", Series::OverallHealthFactor),
    ("rn_ledger_last_update_epoch_second", Series::LastUpdateEpochSecond),
    (
        "rn_ledger_last_update_proposer_epoch_second",
        Series::LastUpdateProposerEpochSecond,
    ),
    (
        "rn_ledger_recent_proposer_timestamp_progress_rate",
        Series::ProgressRate,
    ),
    (
        "rn_ledger_recent_self_proposal_miss_count",
        Series::RecentSelfProposalMissCount,
    ),
    ("rn_ledger_state_version", Series::LedgerStateVersion),
    ("rn_ledger_consensus_rounds_committed", Series::RoundsCommitted),
    ("rn_sync_current_state_version", Series::SyncCurrentStateVersion),
    ("rn_sync_target_state_version", Series::SyncTargetStateVersion),
    (
        "rn_sync_target_proposer_timestamp_epoch_second",
        Series::SyncTargetProposerTimestamp,
    ),
    (
        "rn_sync_unexpected_responses_received_total",
        Series::SyncUnexpectedResponses,
    ),
    ("rn_sync_invalid_responses_received_total", Series::SyncInvalidResponses),
    (
        "rn_bft_rejected_consensus_events_total",
        Series::BftRejectedConsensusEvents,
    ),
    ("rn_bft_in_validator_set", Series::InValidatorSet),
    (
        "rn_bft_proposal_timestamp_difference_seconds",
        Series::ProposalTimestampDifference,
    ),
    ("rn_misc_wallclock_epoch_second", Series::WallclockEpochSecond),
    ("rn_misc_config_info", Series::ConfigInfo),
];

impl Series {
    fn of(name: &str) -> Option<Series> {
        SERIES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    fn name(self) -> &'static str {
        SERIES.iter().find(|(_, s)| *s == self).map_or("", |(n, _)| n)
    }
}

fn add(slot: &mut Option<f64>, v: f64) {
    if v.is_finite() {
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
}

fn first_label(slot: &mut Option<String>, sample: &Sample<'_>, key: &str) {
    if slot.is_none()
        && let Some(value) = sample.label(key).filter(|v| !v.is_empty())
    {
        *slot = Some(value.into_owned());
    }
}

/// The rounds led by validator `own`: `None` when the node exports no rounds at all, zeros when
/// it does but none of them were led by `own` (the counters only appear once incremented).
fn own_rounds(rounds: &[Sample<'_>], own: &str) -> Option<RoundCounts> {
    if rounds.is_empty() {
        return None;
    }
    let mut counts = RoundCounts::default();
    for row in rounds.iter().filter(|r| r.value.is_finite()) {
        if row.label("leader_component_address").as_deref() != Some(own) {
            continue;
        }
        let slot = match row.label("round_resolution").as_deref() {
            Some("Successful") => &mut counts.successful,
            Some("MissedByFallback") => &mut counts.missed_by_fallback,
            Some("MissedByGap") => &mut counts.missed_by_gap,
            _ => continue,
        };
        *slot += row.value;
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/radix_metrics.txt");
    const OWN: &str = "validator_rdx1sd5368vqdmjk0y2w7ymdts02cz9c52858gpyny56xdvzuheepdeyy0";

    fn page(text: &str) -> RadixMetrics {
        RadixMetrics::from_exposition(text.as_bytes()).expect("parses")
    }

    #[test]
    fn fixture_fills_every_field() {
        let m = RadixMetrics::from_exposition(FIXTURE).expect("fixture parses");
        let expected = RadixMetrics {
            overall_health_factor: Some(1.0),
            last_update_epoch_second: Some(1_763_798_400.512),
            last_update_proposer_epoch_second: Some(1_763_798_399.987),
            progress_rate: Some(1.0012),
            recent_self_proposal_miss_count: Some(0.0),
            ledger_state_version: Some(231_457_012.0),
            own_rounds: Some(RoundCounts {
                successful: 50211.0,
                missed_by_fallback: 3.0,
                missed_by_gap: 1.0,
            }),
            sync_current_state_version: Some(231_457_012.0),
            sync_target_state_version: Some(231_457_012.0),
            sync_target_proposer_timestamp_epoch_second: Some(1_763_798_399.987),
            sync_unexpected_responses: Some(2.0),
            sync_invalid_responses: Some(0.0),
            sync_mismatched_transaction_root: Some(0.0),
            bft_rejected_consensus_events: Some(1.0),
            in_validator_set: Some(true),
            rounds_missed_by_gap: Some(1.0),
            // The quantile row; `_sum` (-12.5) and `_count` (1043) are other series.
            proposal_timestamp_differences: Some((-0.012, -0.012)),
            wallclock_epoch_second: Some(1_763_798_400.601),
            configured_validator_address: Some(OWN.to_owned()),
            branch_and_commit: Some("release/cuttlefish-b4ae2f1".to_owned()),
            not_numbers: vec![],
            stats: m.stats,
        };
        assert_eq!(m, expected);
        assert_eq!(m.stats.skipped_invalid, 0);
        assert_eq!(m.stats.samples, 23);
        // JVM, process, HTTP, nodeinfo, `_created`, `_sum` and `_count` lines are filtered out by name.
        assert_eq!(m.stats.ignored, 10);
    }

    #[test]
    fn own_rounds_whatever_the_order_of_config_info() {
        let config = format!("rn_misc_config_info{{configured_validator_address=\"{OWN}\",}} 1.0\n");
        let rounds = format!(
            "rn_ledger_consensus_rounds_committed{{leader_component_address=\"{OWN}\",round_resolution=\"Successful\"}} 5\n\
             rn_ledger_consensus_rounds_committed{{leader_component_address=\"other\",round_resolution=\"Successful\"}} 9\n\
             rn_ledger_consensus_rounds_committed{{round_resolution=\"MissedByGap\",leader_component_address=\"{OWN}\"}} 2\n\
             rn_ledger_consensus_rounds_committed{{leader_component_address=\"{OWN}\",round_resolution=\"Unknown\"}} 7\n"
        );
        let expected = Some(RoundCounts {
            successful: 5.0,
            missed_by_fallback: 0.0,
            missed_by_gap: 2.0,
        });
        assert_eq!(page(&format!("{config}{rounds}")).own_rounds, expected);
        assert_eq!(page(&format!("{rounds}{config}")).own_rounds, expected);
    }

    #[test]
    fn own_rounds_absent_or_zero() {
        let row = "rn_ledger_consensus_rounds_committed{leader_component_address=\"other\",round_resolution=\"Successful\"} 9\n";
        let config = |address: &str| format!("rn_misc_config_info{{configured_validator_address=\"{address}\"}} 1\n");
        // No validator configured: an empty label is no address.
        let no_validator = page(&format!("{}{row}", config("")));
        assert_eq!(
            (no_validator.configured_validator_address, no_validator.own_rounds),
            (None, None)
        );
        assert_eq!(page(row).own_rounds, None, "no config_info at all");
        assert_eq!(page(&config(OWN)).own_rounds, None, "no rounds family at all");
        let never_led = page(&format!("{}{row}", config(OWN)));
        assert_eq!(never_led.own_rounds, Some(RoundCounts::default()));
    }

    #[test]
    fn nan_gauges_are_absent_and_the_first_real_value_wins() {
        let m = page(
            "rn_ledger_overall_health_factor NaN\nrn_ledger_state_version NaN\nrn_ledger_state_version 7\n\
             rn_ledger_state_version 8\nrn_bft_in_validator_set NaN\nrn_misc_wallclock_epoch_second +Inf\n",
        );
        assert_eq!(m.overall_health_factor, None);
        assert_eq!(m.ledger_state_version, Some(7.0));
        assert_eq!(m.in_validator_set, None);
        assert_eq!(m.wallclock_epoch_second, None, "+Inf is no clock");
        // Listed when no finite sample follows: the state version had one, the others did not.
        assert_eq!(m.not_numbers.len(), 2);
        assert_eq!(m.not_numbers[0].0, "rn_ledger_overall_health_factor");
        assert_eq!(m.not_numbers[1], ("rn_misc_wallclock_epoch_second", f64::INFINITY));
    }

    #[test]
    fn infinities_are_no_figures_and_negative_zero_is_zero() {
        let m = page(
            "rn_ledger_state_version +Inf\nrn_ledger_last_update_proposer_epoch_second -Inf\n\
             rn_ledger_overall_health_factor -0\nrn_sync_target_state_version -0.0\n\
             rn_sync_invalid_responses_received_total{reason=\"X\",} +Inf\n\
             rn_bft_in_validator_set +Inf\n\
             rn_bft_proposal_timestamp_difference_seconds{key=\"0\",} -Inf\n",
        );
        assert_eq!(
            (m.ledger_state_version, m.last_update_proposer_epoch_second),
            (None, None)
        );
        assert_eq!(m.overall_health_factor, Some(0.0));
        assert_eq!(m.sync_target_state_version, Some(0.0));
        assert_eq!(m.sync_invalid_responses, None, "an infinite counter is no count");
        assert_eq!(m.in_validator_set, None);
        assert_eq!(m.proposal_timestamp_differences, None);
        assert_eq!(
            m.not_numbers,
            [
                ("rn_ledger_state_version", f64::INFINITY),
                ("rn_ledger_last_update_proposer_epoch_second", f64::NEG_INFINITY)
            ]
        );
    }

    #[test]
    fn in_validator_set_threshold() {
        for (value, expected) in [("0.0", false), ("0.49", false), ("0.5", true), ("1", true)] {
            let m = page(&format!("rn_bft_in_validator_set {value}\n"));
            assert_eq!(m.in_validator_set, Some(expected), "{value}");
        }
    }

    #[test]
    fn counters_sum_over_labels_skipping_nan() {
        let m = page(
            "rn_sync_invalid_responses_received_total{reason=\"MISMATCHED_TRANSACTION_ROOT\",} 2.0\n\
             rn_sync_invalid_responses_received_total{reason=\"INVALID_SIGNATURE\",} 3.0\n\
             rn_sync_invalid_responses_received_total{reason=\"OTHER\",} NaN\n\
             rn_sync_invalid_responses_received_created{reason=\"OTHER\",} 1.7E9\n\
             rn_bft_rejected_consensus_events_total{type=\"VOTE\",} 1.0\n\
             rn_bft_rejected_consensus_events_total{type=\"PROPOSAL\",} 4.0\n\
             rn_sync_unexpected_responses_received_total{reason=\"X\",} NaN\n",
        );
        assert_eq!(m.sync_invalid_responses, Some(5.0));
        assert_eq!(m.sync_mismatched_transaction_root, Some(2.0));
        assert_eq!(m.bft_rejected_consensus_events, Some(5.0));
        assert_eq!(m.sync_unexpected_responses, None, "only NaN samples");
    }

    #[test]
    fn proposal_timestamp_differences_span_every_sample() {
        let m = page(
            "rn_bft_proposal_timestamp_difference_seconds{key=\"0\",quantile=\"0.5\",} 0.2\n\
             rn_bft_proposal_timestamp_difference_seconds{key=\"1\",quantile=\"0.5\",} -1.5\n\
             rn_bft_proposal_timestamp_difference_seconds{key=\"2\",quantile=\"0.99\",} NaN\n\
             rn_bft_proposal_timestamp_difference_seconds{key=\"3\",quantile=\"0.5\",} 1.25\n\
             rn_bft_proposal_timestamp_difference_seconds_sum{key=\"1\",} -900\n\
             rn_bft_proposal_timestamp_difference_seconds_count{key=\"1\",} 1000\n",
        );
        assert_eq!(m.proposal_timestamp_differences, Some((-1.5, 1.25)));
    }

    #[test]
    fn escaped_config_labels_are_decoded() {
        let m = page(r#"rn_misc_config_info{branch_and_commit="a\"b\\c",configured_validator_address="v",} 1.0"#);
        assert_eq!(m.branch_and_commit.as_deref(), Some(r#"a"b\c"#));
        assert_eq!(m.configured_validator_address.as_deref(), Some("v"));
    }

    #[test]
    fn empty_page_has_no_series_and_garbage_is_an_error() {
        assert_eq!(page(""), RadixMetrics::default());
        assert_eq!(page("jvm_threads 12\n").stats.ignored, 1);
        let html = RadixMetrics::from_exposition(b"<html><body>Bad Gateway</body></html>");
        assert!(
            matches!(html, Err(ExpositionError::NotAnExposition { line: 1, .. })),
            "{html:?}"
        );
    }

    #[test]
    fn a_broken_line_does_not_hide_the_rest() {
        let m = page("rn_ledger_state_version{ 1\nrn_ledger_overall_health_factor 0.5\n");
        assert_eq!((m.ledger_state_version, m.overall_health_factor), (None, Some(0.5)));
        assert_eq!(m.stats.skipped_invalid, 1);
    }
}
