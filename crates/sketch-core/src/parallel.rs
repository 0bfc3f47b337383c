//! The one way this workspace runs independent tasks in parallel, so that
//! `Par::Rayon(n)` means at most `n` workers everywhere (faer's own
//! kernels read the same `n`).
//!
//! A request runs on the current rayon pool (install a pool to choose the
//! threads that exist); `Par::Rayon(n)` bounds how many of them work on it
//! at once. Workers pull task indices from a shared counter, so uneven tasks
//! balance; each call of `f` gets the index of its worker (`0..workers`),
//! for per-worker scratch (a `Mutex` per worker is never contended). The
//! results come back in task order and, as long as the scratch is only
//! scratch, do not depend on which worker ran which task: the same bits for
//! any thread count.

use faer::{MatMut, Par};
use std::sync::Mutex;

/// The number of workers a request runs on: 1 for `Par::Seq`; for
/// `Par::Rayon(n)`, `n` capped by the threads of the current rayon pool
/// (more workers than threads would only queue). Without the `rayon`
/// feature, always 1.
#[must_use]
pub fn workers(par: Par) -> usize {
    #[cfg(feature = "rayon")]
    return match par {
        Par::Seq => 1,
        Par::Rayon(n) => n.get().min(rayon::current_num_threads()).max(1),
    };
    #[cfg(not(feature = "rayon"))]
    {
        let _ = par;
        1
    }
}

/// `f(worker, i)` for every task `i < n` on at most [`workers`]`(par)`
/// workers; the results in task order.
pub fn map_tasks<R: Send>(par: Par, n: usize, f: impl Fn(usize, usize) -> R + Sync) -> Vec<R> {
    let w = workers(par).min(n);
    if w <= 1 {
        return (0..n).map(|i| f(0, i)).collect();
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        // One rayon job per worker (`with_max_len(1)`), each pulling tasks
        // until none are left.
        let parts: Vec<Vec<(usize, R)>> = (0..w)
            .into_par_iter()
            .with_max_len(1)
            .map(|worker| {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break done;
                    }
                    done.push((i, f(worker, i)));
                }
            })
            .collect();
        let mut slots: Vec<Option<R>> = (0..n).map(|_| None).collect();
        for (i, r) in parts.into_iter().flatten() {
            slots[i] = Some(r);
        }
        slots
            .into_iter()
            .map(|r| r.expect("every task index is taken exactly once"))
            .collect()
    }
    #[cfg(not(feature = "rayon"))]
    unreachable!("workers() is 1 without rayon")
}

/// [`map_tasks`] over owned items (disjoint mutable views of an output,
/// typically): `f(worker, i, items[i])`.
pub fn map_items<I: Send, R: Send>(
    par: Par,
    items: Vec<I>,
    f: impl Fn(usize, usize, I) -> R + Sync,
) -> Vec<R> {
    let slots: Vec<Mutex<Option<I>>> = items.into_iter().map(|x| Mutex::new(Some(x))).collect();
    map_tasks(par, slots.len(), |worker, i| {
        let item = slots[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .expect("every task index is taken exactly once");
        f(worker, i, item)
    })
}

/// `m` split into blocks of `width` columns (the last one narrower), as
/// items for [`map_items`].
///
/// # Panics
/// If `width` is 0.
pub fn col_blocks<T>(m: MatMut<'_, T>, width: usize) -> Vec<MatMut<'_, T>> {
    assert!(width > 0, "column blocks need a width");
    let mut out = Vec::with_capacity(m.ncols().div_ceil(width));
    let mut rest = m;
    while rest.ncols() > 0 {
        let w = width.min(rest.ncols());
        let (head, tail) = rest.split_at_col_mut(w);
        out.push(head);
        rest = tail;
    }
    out
}

/// One `Mutex<S>` per worker of `par`, for [`map_tasks`]' scratch.
pub fn per_worker<S>(par: Par, make: impl Fn() -> S) -> Vec<Mutex<S>> {
    (0..workers(par)).map(|_| Mutex::new(make())).collect()
}

/// Locks worker `w`'s scratch (a poisoned lock is taken over: scratch holds
/// no invariant a panic could break).
pub fn lock<S>(pool: &[Mutex<S>], w: usize) -> std::sync::MutexGuard<'_, S> {
    pool[w.min(pool.len() - 1)]
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(all(test, feature = "rayon"))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::num::NonZeroUsize;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a small pool")
    }

    /// `Par::Rayon(2)` on a pool of 4 threads: never more than 2 tasks at
    /// once, on at most 2 distinct threads; the pool's own loops would use
    /// all 4 (which is what `Par::Rayon(n)` meant before: nothing).
    #[test]
    fn rayon_n_bounds_the_concurrent_workers() {
        let p = pool(4);
        let par = Par::Rayon(NonZeroUsize::new(2).expect("2 > 0"));
        p.install(|| {
            assert_eq!(workers(par), 2);
            let running = AtomicUsize::new(0);
            let peak = AtomicUsize::new(0);
            let threads = Mutex::new(HashSet::new());
            let out = map_tasks(par, 64, |w, i| {
                assert!(w < 2, "worker index {w}");
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                threads
                    .lock()
                    .expect("not poisoned")
                    .insert(rayon::current_thread_index());
                std::thread::sleep(std::time::Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                i * i
            });
            assert_eq!(out, (0..64).map(|i| i * i).collect::<Vec<_>>());
            assert!(peak.load(Ordering::SeqCst) <= 2);
            assert!(threads.lock().expect("not poisoned").len() <= 2);
            // The pool itself would run more at once: the bound is ours.
            assert_eq!(workers(Par::rayon(0)), 4);
            assert_eq!(workers(Par::rayon(16)), 4);
        });
    }

    #[test]
    fn seq_runs_in_order_on_one_worker_and_items_arrive_once() {
        let order = Mutex::new(Vec::new());
        let out = map_items(Par::Seq, vec![10, 20, 30], |w, i, x| {
            assert_eq!(w, 0);
            order.lock().expect("not poisoned").push(i);
            x + i
        });
        assert_eq!(out, vec![10, 21, 32]);
        assert_eq!(*order.lock().expect("not poisoned"), vec![0, 1, 2]);
        let p = pool(3);
        let out = p.install(|| map_items(Par::rayon(3), (0..100).collect(), |_, i, x| (i, x)));
        assert!(out.iter().enumerate().all(|(k, &(i, x))| i == k && x == k));
        assert!(map_tasks(Par::rayon(2), 0, |_, i| i).is_empty());
    }
}
