//! A single-threaded cancellation signal: one `cancel()` wakes every request waiting on it.
//!
//! Each waiting [`Cancelled`] owns one slot in the token's waker table and frees it when dropped, so a run of
//! millions of requests sharing one token holds wakers only for the requests in flight.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct State {
    cancelled: bool,
    /// Waker slots; `None` marks a free slot, listed in `free`.
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl State {
    fn insert(&mut self, waker: Waker) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.wakers[slot] = Some(waker);
                slot
            }
            None => {
                self.wakers.push(Some(waker));
                self.wakers.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        if let Some(entry) = self.wakers.get_mut(slot) {
            if entry.take().is_some() {
                self.free.push(slot);
            }
        }
    }
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
        let wakers: Vec<Waker> = {
            let mut state = self.0.borrow_mut();
            state.cancelled = true;
            state.free.clear();
            std::mem::take(&mut state.wakers).into_iter().flatten().collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.borrow().cancelled
    }

    /// A future that resolves once `cancel()` has been called.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
            slot: None,
        }
    }

    /// Waker slots currently held (for tests: it must not grow with finished requests).
    pub fn waiting(&self) -> usize {
        let state = self.0.borrow();
        state.wakers.len() - state.free.len()
    }
}

/// Resolves when its token is cancelled; frees its waker slot when dropped.
pub struct Cancelled {
    token: CancelToken,
    slot: Option<usize>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.token.0.borrow_mut();
        if state.cancelled {
            this.slot = None;
            return Poll::Ready(());
        }
        match this.slot {
            Some(slot) => match state.wakers.get_mut(slot) {
                Some(Some(waker)) => waker.clone_from(cx.waker()),
                _ => this.slot = Some(state.insert(cx.waker().clone())),
            },
            None => this.slot = Some(state.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            if let Ok(mut state) = self.token.0.try_borrow_mut() {
                state.remove(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// A waker that counts its wakes.
    struct Counter(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counter {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn cancel_wakes_waiters_and_later_waiters_resolve_at_once() {
        let token = CancelToken::new();
        let counter = std::sync::Arc::new(Counter(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut waiter = token.cancelled();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut waiter).poll(&mut cx).is_pending());
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        token.cancel();
        assert_eq!(
            counter.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "cancel woke the waiter once"
        );
        assert!(waiter.now_or_never().is_some());
        assert!(token.cancelled().now_or_never().is_some());
        assert!(token.is_cancelled());
    }

    #[test]
    fn dropped_waiters_free_their_slots() {
        let token = CancelToken::new();
        for _ in 0..1000 {
            let mut waiter = token.cancelled();
            assert!((&mut waiter).now_or_never().is_none());
            assert!((&mut waiter).now_or_never().is_none()); // re-polling reuses the slot
            assert_eq!(token.waiting(), 1);
        }
        assert_eq!(token.waiting(), 0);
        let mut kept = token.cancelled();
        assert!((&mut kept).now_or_never().is_none());
        assert_eq!(token.waiting(), 1);
        token.cancel();
        assert!(kept.now_or_never().is_some());
    }
}
