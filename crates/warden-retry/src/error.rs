//! Errors: [`ConfigError`] for invalid settings, [`RetryError`] for a run that
//! gave up, and [`StopReason`] saying why it did.

use std::fmt;

use warden_breaker::{Error as BreakerError, Rejected};

/// An invalid setting given to a [`RetryPolicyBuilder`](crate::RetryPolicyBuilder)
/// or a [`RetryBudgetBuilder`](crate::RetryBudgetBuilder).
///
/// Every variant names the field, the value given and what is allowed.
///
/// ```
/// use warden_retry::{ConfigError, RetryPolicy};
/// let err = RetryPolicy::<std::io::Error>::builder().max_attempts(0).build().unwrap_err();
/// assert!(matches!(err, ConfigError::OutOfRange { field: "max_attempts", .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid max_attempts: 0 is outside the allowed range 1..=4294967295 (use until_success for no limit)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside its allowed range.
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range, in words.
        allowed: &'static str,
    },
}

impl ConfigError {
    pub(crate) fn out_of_range(
        field: &'static str,
        value: impl fmt::Debug,
        allowed: &'static str,
    ) -> Self {
        ConfigError::OutOfRange {
            field,
            value: format!("{value:?}"),
            allowed,
        }
    }

    /// The name of the invalid setting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::RetryPolicy;
    /// let err = RetryPolicy::<()>::builder()
    ///     .base_delay(Duration::from_secs(2))
    ///     .max_delay(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "max_delay");
    /// ```
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::OutOfRange { field, .. } => field,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::OutOfRange {
                field,
                value,
                allowed,
            } => write!(
                f,
                "invalid {field}: {value} is outside the allowed range {allowed}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a run stopped retrying.
///
/// ```
/// use warden_retry::StopReason;
/// assert_eq!(StopReason::Budget.to_string(), "retry budget exhausted");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// Every allowed attempt was made and failed.
    Exhausted,
    /// The policy's `retry_if` said the last error is not worth retrying.
    NotRetryable,
    /// The next retry would have started after the policy's total time limit
    /// (`max_elapsed`, or the `until_success` deadline).
    Deadline,
    /// The shared [`RetryBudget`](crate::RetryBudget) refused a retry.
    Budget,
    /// The circuit breaker rejected the last attempt (it did not run), and the
    /// policy does not retry rejections.
    Rejected(Rejected),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Exhausted => "attempts exhausted",
            StopReason::NotRetryable => "error not retryable",
            StopReason::Deadline => "total time limit reached",
            StopReason::Budget => "retry budget exhausted",
            StopReason::Rejected(_) => "rejected by the circuit breaker",
        })
    }
}

/// The error of a run that gave up: the errors of its attempts, in order, and
/// why it stopped.
///
/// It keeps the attempts' errors the policy's [`Retention`](crate::Retention)
/// says (by default the first and the last
/// [`DEFAULT_KEPT`](crate::DEFAULT_KEPT), so a long run stays small); the last
/// error is always kept, and [`dropped`](Self::dropped) counts the others.
/// `Display` prints each kept error with its attempt number on one line, and
/// where errors were dropped between kept ones, how many:
///
/// ```
/// use warden_retry::{retry, RetryPolicy, StopReason};
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .base_delay(std::time::Duration::ZERO)
///     .build()?;
/// let mut n = 0;
/// let err = retry(&policy, || { n += 1; Err::<(), _>(format!("timeout {n}")) }).unwrap_err();
/// assert_eq!(err.to_string(), "all 3 attempts failed: #1: timeout 1; #2: timeout 2; #3: timeout 3");
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.reason(), StopReason::Exhausted);
/// assert_eq!(err.last(), "timeout 3");
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
///
/// The messages are in `Display`, so [`source`](std::error::Error::source) is
/// `None` (an error chain would print them twice); reach the errors with
/// [`last`](Self::last), [`iter`](Self::iter) or
/// [`into_errors`](Self::into_errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryError<E> {
    /// Errors of attempts before the last, oldest first (empty when only the
    /// last is kept).
    earlier: Vec<E>,
    /// `earlier[..gap_at]` are the first attempts' errors; `dropped` errors
    /// were not kept between them and `earlier[gap_at..]`.
    gap_at: usize,
    dropped: u32,
    last: E,
    attempts: u32,
    reason: StopReason,
}

impl<E> RetryError<E> {
    pub(crate) fn new(
        earlier: Vec<E>,
        gap_at: usize,
        dropped: u32,
        last: E,
        attempts: u32,
        reason: StopReason,
    ) -> Self {
        Self {
            earlier,
            gap_at,
            dropped,
            last,
            attempts,
            reason,
        }
    }

    /// The number of attempts made (calls, including the first).
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy};
    /// let policy = RetryPolicy::builder().max_attempts(2).base_delay(std::time::Duration::ZERO).build()?;
    /// assert_eq!(retry(&policy, || Err::<(), _>("no")).unwrap_err().attempts(), 2);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why the run stopped.
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy, StopReason};
    /// let policy = RetryPolicy::builder().retry_if(|e: &&str| *e != "bad request").build()?;
    /// let err = retry(&policy, || Err::<(), _>("bad request")).unwrap_err();
    /// assert_eq!(err.reason(), StopReason::NotRetryable);
    /// assert_eq!(err.attempts(), 1);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn reason(&self) -> StopReason {
        self.reason
    }

    /// The last attempt's error.
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy};
    /// let policy = RetryPolicy::builder().max_attempts(1).build()?;
    /// assert_eq!(*retry(&policy, || Err::<(), _>(7)).unwrap_err().last(), 7);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn last(&self) -> &E {
        &self.last
    }

    /// The last attempt's error, by value.
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy};
    /// let policy = RetryPolicy::builder().max_attempts(1).build()?;
    /// let e: std::io::Error = retry(&policy, || Err::<(), _>(std::io::Error::other("down")))
    ///     .unwrap_err()
    ///     .into_last();
    /// assert_eq!(e.to_string(), "down");
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn into_last(self) -> E {
        self.last
    }

    /// The kept errors, oldest first (the last one always included).
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy};
    /// let policy = RetryPolicy::builder().max_attempts(2).base_delay(std::time::Duration::ZERO).build()?;
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!(err.iter().copied().collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &E> {
        self.earlier.iter().chain(std::iter::once(&self.last))
    }

    /// The kept errors with the number of the attempt that returned each
    /// (1-based), oldest first.
    ///
    /// ```
    /// # use warden_retry::{retry, Retention, RetryPolicy};
    /// let policy = RetryPolicy::builder()
    ///     .max_attempts(3)
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retention(Retention::Last)
    ///     .build()?;
    /// let err = retry(&policy, || Err::<(), _>("x")).unwrap_err();
    /// assert_eq!(err.numbered().collect::<Vec<_>>(), [(3, &"x")]);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn numbered(&self) -> impl Iterator<Item = (u32, &E)> {
        let (head, tail) = self.earlier.split_at(self.gap_at.min(self.earlier.len()));
        let after_gap = u32::try_from(head.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.dropped);
        let head = head.iter().enumerate().map(|(i, e)| (number(i), e));
        let tail = tail
            .iter()
            .enumerate()
            .map(move |(i, e)| (after_gap.saturating_add(number(i)), e));
        head.chain(tail)
            .chain(std::iter::once((self.attempts, &self.last)))
    }

    /// How many attempts' errors were not kept (see
    /// [`Retention`](crate::Retention)).
    ///
    /// ```
    /// # use warden_retry::{retry, Retention, RetryPolicy};
    /// let policy = RetryPolicy::builder()
    ///     .max_attempts(10)
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retention(Retention::Ends(2))
    ///     .build()?;
    /// let mut n = 0;
    /// let err = retry(&policy, || { n += 1; Err::<(), _>(n) }).unwrap_err();
    /// assert_eq!((err.kept(), err.dropped()), (4, 6));
    /// assert_eq!(err.to_string(), "all 10 attempts failed: #1: 1; #2: 2; (6 more); #9: 9; #10: 10");
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// The number of errors kept.
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy};
    /// let policy = RetryPolicy::builder().max_attempts(2).base_delay(std::time::Duration::ZERO).build()?;
    /// assert_eq!(retry(&policy, || Err::<(), _>(())).unwrap_err().kept(), 2);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn kept(&self) -> usize {
        self.earlier.len() + 1
    }

    /// All kept errors, oldest first.
    ///
    /// ```
    /// # use warden_retry::{retry, RetryPolicy};
    /// let policy = RetryPolicy::builder().max_attempts(2).base_delay(std::time::Duration::ZERO).build()?;
    /// let errors = retry(&policy, || Err::<(), _>("e")).unwrap_err().into_errors();
    /// assert_eq!(errors, ["e", "e"]);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn into_errors(self) -> Vec<E> {
        let mut all = self.earlier;
        all.push(self.last);
        all
    }
}

/// The 1-based attempt number of the `i`-th error (0-based).
fn number(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1)
}

impl<E> RetryError<BreakerError<E>> {
    /// The breaker's rejection if the last attempt was rejected (the call did
    /// not run), `None` if the call ran and failed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, Rejected};
    /// use warden_retry::{with_breaker_and_retry, RetryPolicy};
    ///
    /// let cb = CircuitBreaker::builder("db").ready_to_trip(|c| c.consecutive_failures >= 1).build()?;
    /// let policy = RetryPolicy::builder().max_attempts(3).base_delay(Duration::ZERO).build()?;
    /// let err = with_breaker_and_retry(&cb, &policy, || Err::<(), _>("refused")).unwrap_err();
    /// assert_eq!(err.rejection(), Some(Rejected::Open)); // 2nd attempt rejected: stop
    /// assert_eq!(err.attempts(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rejection(&self) -> Option<Rejected> {
        self.last.rejection()
    }

    /// True if the breaker rejected the last attempt.
    ///
    /// ```
    /// use warden_breaker::CircuitBreaker;
    /// use warden_retry::{with_breaker_and_retry, RetryPolicy};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// let policy = RetryPolicy::builder().max_attempts(1).build()?;
    /// let err = with_breaker_and_retry(&cb, &policy, || Err::<(), _>("refused")).unwrap_err();
    /// assert!(!err.is_rejection()); // the call ran and failed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_rejection(&self) -> bool {
        self.last.is_rejection()
    }

    /// The error of the last attempt that ran (skipping rejected attempts), if
    /// it is kept.
    ///
    /// ```
    /// use warden_breaker::CircuitBreaker;
    /// use warden_retry::{with_breaker_and_retry, RetryPolicy};
    /// let cb = CircuitBreaker::builder("db").ready_to_trip(|c| c.consecutive_failures >= 1).build()?;
    /// let policy = RetryPolicy::builder().max_attempts(3).base_delay(std::time::Duration::ZERO).build()?;
    /// let err = with_breaker_and_retry(&cb, &policy, || Err::<(), _>("refused")).unwrap_err();
    /// assert_eq!(err.last_call_error(), Some(&"refused"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_call_error(&self) -> Option<&E> {
        self.iter().rev().find_map(|e| match e {
            BreakerError::Inner(e) => Some(e),
            _ => None,
        })
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.attempts;
        let plural = if n == 1 { "" } else { "s" };
        match self.reason {
            StopReason::Exhausted if n == 1 => f.write_str("the only attempt failed")?,
            StopReason::Exhausted => write!(f, "all {n} attempts failed")?,
            reason => write!(f, "gave up after {n} attempt{plural} ({reason})")?,
        }
        let mut sep = ": ";
        for (i, (number, e)) in self.numbered().enumerate() {
            if i == self.gap_at && i > 0 && self.dropped > 0 {
                write!(f, "{sep}({} more)", self.dropped)?;
            }
            write!(f, "{sep}#{number}: {e}")?;
            sep = "; ";
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RetryError<E> {}
