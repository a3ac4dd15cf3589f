//! Label values: every one comes from a closed set, an enum that lists all
//! its values, never from an id. Label sets built from them say which of
//! their series exist from the start (`LabelSet::precreated`).

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::domain::reasons::closed_set;
use crate::domain::{DeadLetterReason, Lane, RejectReason, Stage, UploadState};

/// A metric's label set: its label names, and the series created at 0 when
/// the metric is registered (so the first event after a restart is an
/// increase `rate()` can see). Empty where a series appears with what it
/// describes (a consumer, a partition, a task).
pub trait LabelSet: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static {
    const NAMES: &'static [&'static str];
    fn precreated() -> Vec<Self>;
}

macro_rules! label_value {
    ($($ty:ty),*) => {$(
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}

closed_set! {
    /// An HTTP status class.
    pub enum StatusClass {
        Success => "2xx",
        Redirect => "3xx",
        ClientError => "4xx",
        ServerError => "5xx",
    }
}

impl StatusClass {
    pub fn of(status: u16) -> Self {
        match status {
            500.. => Self::ServerError,
            400.. => Self::ClientError,
            300.. => Self::Redirect,
            _ => Self::Success,
        }
    }
}

closed_set! {
    /// An HTTP method; extension methods are `other`, so they cannot grow
    /// the label set.
    pub enum Method {
        Get => "GET",
        Post => "POST",
        Put => "PUT",
        Delete => "DELETE",
        Head => "HEAD",
        Options => "OPTIONS",
        Patch => "PATCH",
        Other => "other",
    }
}

impl Method {
    pub fn of(method: &axum::http::Method) -> Self {
        method.as_str().parse().unwrap_or(Self::Other)
    }
}

closed_set! {
    /// A route template of the API router (`api::router`), never a raw path.
    pub enum Route {
        WebApp => "/",
        WebAsset => "/assets/{name}",
        ClientConfig => "/v1/client-config",
        DevToken => "/v1/dev/token",
        Uploads => "/v1/uploads",
        Upload => "/v1/uploads/{id}",
        UploadComplete => "/v1/uploads/{id}/complete",
        Recommendations => "/v1/uploads/{id}/recommendations",
        Songs => "/v1/songs",
        ObjectCreated => "/v1/events/s3",
        Healthz => "/healthz",
        Readyz => "/readyz",
        /// No route matched (404s), or a template missing here.
        Unmatched => "unmatched",
    }
}

impl Route {
    /// The route a matched path template names; `Unmatched` for none.
    pub fn of(template: Option<&str>) -> Self {
        template.and_then(|t| t.parse().ok()).unwrap_or(Self::Unmatched)
    }
}

/// The endpoints singers and S3 call, whose request counters exist from the
/// start (an error-ratio alert must see the first 5xx as an increase).
pub const API_ENDPOINTS: [(Method, Route); 3] =
    [(Method::Post, Route::Uploads), (Method::Get, Route::Upload), (Method::Post, Route::ObjectCreated)];

closed_set! {
    /// How one stage run ended.
    pub enum StageOutcome {
        Success => "success",
        TransientError => "transient_error",
        PermanentError => "permanent_error",
    }
}

closed_set! {
    /// How an upload that arrived ended for the singer.
    pub enum UploadOutcome {
        Completed => "completed",
        Failed => "failed",
    }
}

closed_set! {
    /// How one watchdog run ended (`skipped`: another watchdog held the lock).
    pub enum RunOutcome {
        Success => "success",
        Failure => "failure",
        Skipped => "skipped",
    }
}

closed_set! {
    /// A dependency called with a time limit.
    pub enum Dependency {
        S3 => "s3",
        ModelServer => "model_server",
    }
}

closed_set! {
    /// Why log lines never reached Loki.
    pub enum DropReason {
        QueueFull => "queue_full",
        PushFailed => "push_failed",
    }
}

closed_set! {
    /// How one push to Loki ended.
    pub enum PushOutcome {
        Success => "success",
        Failure => "failure",
    }
}

/// A supervised long-running task: the name `/readyz`, the logs and the
/// `task` label use.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Task {
    Relay,
    Watchdog,
    StateGauge,
    Consumer(Stage, Lane),
}

impl Task {
    pub const ALL: [Task; 9] = [
        Task::Relay,
        Task::Watchdog,
        Task::StateGauge,
        Task::Consumer(Stage::Convert, Lane::Realtime),
        Task::Consumer(Stage::Convert, Lane::Bulk),
        Task::Consumer(Stage::Analyze, Lane::Realtime),
        Task::Consumer(Stage::Analyze, Lane::Bulk),
        Task::Consumer(Stage::Recommend, Lane::Realtime),
        Task::Consumer(Stage::Recommend, Lane::Bulk),
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Task::Relay => "relay",
            Task::Watchdog => "watchdog",
            Task::StateGauge => "state_gauge",
            Task::Consumer(Stage::Convert, Lane::Realtime) => "consumer.convert.realtime",
            Task::Consumer(Stage::Convert, Lane::Bulk) => "consumer.convert.bulk",
            Task::Consumer(Stage::Analyze, Lane::Realtime) => "consumer.analyze.realtime",
            Task::Consumer(Stage::Analyze, Lane::Bulk) => "consumer.analyze.bulk",
            Task::Consumer(Stage::Recommend, Lane::Realtime) => "consumer.recommend.realtime",
            Task::Consumer(Stage::Recommend, Lane::Bulk) => "consumer.recommend.bulk",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

label_value!(
    StatusClass,
    Method,
    Route,
    StageOutcome,
    UploadOutcome,
    RunOutcome,
    Dependency,
    DropReason,
    PushOutcome,
    Task,
    Stage,
    Lane,
    UploadState,
    DeadLetterReason,
    RejectReason
);

/// Every combination of two closed sets.
fn pairs<A: Copy, B: Copy, T>(a: &[A], b: &[B], make: impl Fn(A, B) -> T) -> Vec<T> {
    a.iter().flat_map(|x| b.iter().map(|y| make(*x, *y)).collect::<Vec<_>>()).collect()
}

const LANES: [Lane; 2] = [Lane::Realtime, Lane::Bulk];

macro_rules! label_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty),* } => $precreated:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl LabelSet for $name {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
            fn precreated() -> Vec<Self> {
                $precreated
            }
        }
    };
}

label_set!(HttpLabels { method: Method, route: Route, status_class: StatusClass } => {
    API_ENDPOINTS
        .iter()
        .flat_map(|(method, route)| {
            [StatusClass::Success, StatusClass::ClientError, StatusClass::ServerError]
                .map(|status_class| HttpLabels { method: *method, route: *route, status_class })
        })
        .collect()
});
label_set!(RejectLabels { reason: RejectReason } => RejectReason::ALL.iter().map(|&reason| Self { reason }).collect());
label_set!(TransitionLabels { from: UploadState, to: UploadState } => Vec::new());
label_set!(
    /// Any of the 12 states.
    StateLabels { state: UploadState } => UploadState::ALL.iter().map(|&state| Self { state }).collect()
);
label_set!(
    /// A state the watchdog watches (every non-terminal one).
    WatchedStateLabels { state: UploadState } =>
        UploadState::ALL.iter().filter(|s| !s.is_terminal()).map(|&state| Self { state }).collect()
);
label_set!(StageOutcomeLabels { stage: Stage, outcome: StageOutcome } =>
    pairs(&Stage::ALL, StageOutcome::ALL, |stage, outcome| Self { stage, outcome }));
label_set!(TopicLabels { stage: Stage, lane: Lane } => pairs(&Stage::ALL, &LANES, |stage, lane| Self { stage, lane }));
label_set!(UploadOutcomeLabels { lane: Lane, outcome: UploadOutcome } =>
    pairs(&LANES, UploadOutcome::ALL, |lane, outcome| Self { lane, outcome }));
label_set!(
    /// A running consumer's stage and lane: created when the consumer starts,
    /// so a process without consumers has none of these series.
    ConsumerLabels { stage: Stage, lane: Lane } => Vec::new()
);
label_set!(LagLabels {
    stage: Stage,
    lane: Lane,
    /// Bounded by the configured partition count.
    partition: i32
} => Vec::new());
label_set!(DeadLetterLabels { stage: Stage, reason: DeadLetterReason } =>
    pairs(&Stage::ALL, DeadLetterReason::ALL, |stage, reason| Self { stage, reason }));
label_set!(
    /// Created when the watchdog is scheduled: only the process running it
    /// has these series, so its dead man's switch sees a watchdog that never runs.
    RunOutcomeLabels { outcome: RunOutcome } => Vec::new()
);
label_set!(DependencyLabels { dependency: Dependency } => Dependency::ALL.iter().map(|&dependency| Self { dependency }).collect());
label_set!(
    /// Created with the task.
    TaskLabels { task: Task } => Vec::new()
);
label_set!(StageLabels { stage: Stage } => Stage::ALL.iter().map(|&stage| Self { stage }).collect());
label_set!(DropLabels { reason: DropReason } => DropReason::ALL.iter().map(|&reason| Self { reason }).collect());
label_set!(PushLabels { outcome: PushOutcome } => PushOutcome::ALL.iter().map(|&outcome| Self { outcome }).collect());
label_set!(BuildLabels { version: &'static str, git_sha: &'static str } => vec![Self {
    version: env!("CARGO_PKG_VERSION"),
    git_sha: match option_env!("ORAKGARAK_GIT_SHA") { Some(sha) => sha, None => "unknown" },
}]);
