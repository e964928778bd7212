//! The async runtimes the bench drives sessions on: the little that differs between pop3-async-std and
//! pop3-tokio (starting a runtime, spawning a task, sleeping), so each measurement is written once for both.

use std::future::Future;
use std::time::Duration;

use pop3_session::AsyncConnect;

use crate::clients::BoxError;

/// An async runtime and the pop3 driver's transport for it.
pub(crate) trait Runtime: 'static {
    /// The driver's transport ([`pop3_session::Async`] of it is the driver).
    type Transport: AsyncConnect + 'static;
    /// How reports name the driver.
    const DRIVER: &'static str;

    /// Runs `future` to completion on this thread.
    fn block_on<T>(future: impl Future<Output = Result<T, BoxError>>) -> Result<T, BoxError>;

    /// Runs `future` as a task of the runtime `block_on` started; the result is its output.
    fn spawn<T: Send + 'static>(
        future: impl Future<Output = Result<T, BoxError>> + Send + 'static,
    ) -> impl Future<Output = Result<T, BoxError>>;

    /// Waits without blocking the runtime.
    fn sleep(duration: Duration) -> impl Future<Output = ()>;
}

/// pop3-async-std on async-std: `block_on` polls the future on this thread (async-std's reactor runs on its own
/// thread when this one is busy); spawned tasks run on async-std's global executor.
#[derive(Debug)]
pub(crate) struct AsyncStd;

impl Runtime for AsyncStd {
    type Transport = pop3_async_std::Transport<pop3_async_std::AsyncStd>;
    const DRIVER: &'static str = "pop3-async-std";

    fn block_on<T>(future: impl Future<Output = Result<T, BoxError>>) -> Result<T, BoxError> {
        async_std::task::block_on(future)
    }

    fn spawn<T: Send + 'static>(
        future: impl Future<Output = Result<T, BoxError>> + Send + 'static,
    ) -> impl Future<Output = Result<T, BoxError>> {
        async_std::task::spawn(future)
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        async_std::task::sleep(duration)
    }
}

/// pop3-tokio on a current-thread tokio runtime with I/O and time enabled (what
/// `#[tokio::main(flavor = "current_thread")]` builds): one session at a time is measured, and like the blocking
/// and mio clients it is driven by the thread that waits for it, with no hand-off between threads on a read. The
/// multi-thread scheduler would poll the socket on a worker thread and wake this one for every read, on a machine
/// of two CPUs that also runs the server process.
#[derive(Debug)]
pub(crate) struct Tokio;

impl Runtime for Tokio {
    type Transport = pop3_tokio::Transport;
    const DRIVER: &'static str = "pop3-tokio";

    fn block_on<T>(future: impl Future<Output = Result<T, BoxError>>) -> Result<T, BoxError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(future)
    }

    fn spawn<T: Send + 'static>(
        future: impl Future<Output = Result<T, BoxError>> + Send + 'static,
    ) -> impl Future<Output = Result<T, BoxError>> {
        let task = tokio::spawn(future);
        async move { task.await? }
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }
}
