//! A single-threaded cancellation signal: one `cancel()` wakes every request waiting on it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct State {
    cancelled: bool,
    wakers: Vec<Waker>,
}

/// A cloneable cancellation signal. Clones share one state.
#[derive(Clone, Default)]
pub struct CancelToken(Rc<RefCell<State>>);

impl CancelToken {
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Signals cancellation to every waiter, now and later.
    pub fn cancel(&self) {
        let wakers = {
            let mut state = self.0.borrow_mut();
            state.cancelled = true;
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.borrow().cancelled
    }

    /// A future that resolves once `cancel()` has been called.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled(self.clone())
    }
}

/// Resolves when its token is cancelled.
pub struct Cancelled(CancelToken);

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = (self.0).0.borrow_mut();
        if state.cancelled {
            Poll::Ready(())
        } else {
            if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                state.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn cancel_wakes_waiters_and_later_waiters_resolve_at_once() {
        let token = CancelToken::new();
        let mut waiter = token.cancelled();
        assert!((&mut waiter).now_or_never().is_none());
        token.cancel();
        assert!(waiter.now_or_never().is_some());
        assert!(token.cancelled().now_or_never().is_some());
        assert!(token.is_cancelled());
    }
}
