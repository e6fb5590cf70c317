//! Whether the page itself disturbed a run: a hidden tab (browsers throttle its timers) or timers that fired late
//! (the main thread was busy), measured while the run goes on. Either can delay requests and chunk stamps, so
//! the run is flagged as client-affected and the figures say so.

use serde::{Deserialize, Serialize};

/// Timer lateness above which the page, not the server, may have shaped the numbers.
pub const LATE_TIMER_MS: f64 = 100.0;

/// What the page saw of itself during a run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PageHealth {
    /// Seconds the tab was hidden while the run went on.
    pub hidden_secs: f64,
    /// The latest a timer fired after its deadline, in milliseconds.
    pub max_timer_lateness_ms: f64,
}

impl PageHealth {
    /// Adds `secs` hidden.
    pub fn add_hidden(&mut self, secs: f64) {
        self.hidden_secs += secs.max(0.0);
    }

    /// Records a timer that fired `late_ms` after its deadline.
    pub fn timer_fired_late(&mut self, late_ms: f64) {
        self.max_timer_lateness_ms = self.max_timer_lateness_ms.max(late_ms);
    }

    /// Whether the page may have shaped the numbers.
    pub fn is_client_affected(&self) -> bool {
        self.hidden_secs > 0.0 || self.max_timer_lateness_ms > LATE_TIMER_MS
    }

    /// The warning for the page, if it was affected.
    pub fn warning(&self) -> Option<String> {
        if !self.is_client_affected() {
            return None;
        }
        let mut causes = Vec::new();
        if self.hidden_secs > 0.0 {
            causes.push(format!(
                "the tab was hidden for {:.1} s (browsers slow a hidden tab's timers)",
                self.hidden_secs
            ));
        }
        if self.max_timer_lateness_ms > LATE_TIMER_MS {
            causes.push(format!(
                "timers fired up to {:.0} ms late (the page was busy)",
                self.max_timer_lateness_ms
            ));
        }
        Some(format!(
            "Client-affected: {}. Requests may have been sent late and chunks stamped late; keep the tab visible \
             and the page idle, and run again before trusting these numbers.",
            causes.join(", and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_time_or_late_timers_flag_the_run() {
        let mut health = PageHealth::default();
        health.timer_fired_late(40.0);
        assert!(!health.is_client_affected() && health.warning().is_none());
        health.timer_fired_late(250.0);
        assert!(health.warning().unwrap().contains("up to 250 ms late"));
        let mut hidden = PageHealth::default();
        hidden.add_hidden(1.25);
        let warning = hidden.warning().unwrap();
        assert!(
            warning.starts_with("Client-affected: the tab was hidden for 1.2 s"),
            "{warning}"
        );
    }
}
