//! Multi-turn conversations in the engine: each closed-loop client is a user, and its requests are the turns of
//! its conversations (`turns=K`). A turn sends the conversation so far — every earlier turn's prompt and the
//! model's real answer — then its own prompt (the payload the scheduler picked). The scheduler adds the think time
//! between turns; this module keeps the history, and marks each record with its conversation and turn.
//!
//! A turn that fails or is cancelled leaves no answer to send back: its exchange is left out of the history and
//! the conversation goes on with the next turn, so later turns still carry every answered exchange.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::request::PreparedRequest;
use crate::sink::FinishedRequest;
use crate::target::Target;
use tokenmeter_core::plan::Conversation;
use tokenmeter_core::record::Turn;
use tokenmeter_core::scheduler::Dispatch;
use tokenmeter_protocol::payload_options::Exchange;

/// Every client's conversation so far, and the turns in flight.
#[derive(Debug)]
pub struct Conversations {
    plan: Conversation,
    users: HashMap<u32, User>,
    in_flight: HashMap<u64, Sent>,
}

#[derive(Debug, Default)]
struct User {
    /// The current conversation (its first request's id).
    conversation: u64,
    /// Requests this client has sent.
    sent: u64,
    history: Vec<Exchange>,
}

#[derive(Debug)]
struct Sent {
    client: u32,
    turn: Turn,
    /// The turn's own prompt, to pair with its answer.
    user: String,
}

impl Conversations {
    pub fn new(plan: Conversation) -> Self {
        Conversations {
            plan,
            users: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    /// The request for dispatch `d`: its client's next turn, carrying the conversation so far.
    pub fn prepare(&mut self, target: &Target, d: &Dispatch, now: DateTime<Utc>) -> PreparedRequest {
        let user = self.users.entry(d.client).or_default();
        let index = self.plan.turn_of(user.sent);
        user.sent += 1;
        if index == 0 {
            user.conversation = d.request_id;
            user.history.clear();
        }
        let (prepared, text) = target.prepare_turn(d.request_id, d.payload_index, &user.history, now);
        let turn = Turn {
            conversation: user.conversation,
            index,
        };
        self.in_flight.insert(
            d.request_id,
            Sent {
                client: d.client,
                turn,
                user: text,
            },
        );
        prepared
    }

    /// Marks a finished turn's record with its conversation and turn, and keeps its answer for the next turn.
    pub fn finished(&mut self, finished: &mut FinishedRequest) {
        let Some(sent) = self.in_flight.remove(&finished.dispatch.request_id) else {
            return;
        };
        let record = &mut finished.record;
        record.turn = Some(sent.turn);
        let Some(user) = self.users.get_mut(&sent.client) else {
            return;
        };
        // An answer belongs to the conversation still going on (not to one the client has since left).
        let current = user.conversation == sent.turn.conversation;
        if let (true, true, Some(answer)) = (current, record.is_success(), &record.response_text) {
            user.history.push(Exchange {
                user: sent.user,
                assistant: answer.clone(),
            });
        }
    }
}
