//! Closed sets of reasons, and the macro that declares such a set: an enum
//! that lists all its values (`ALL`), names each one once (`as_str`), and
//! parses the name back. Metric labels and dead-letter headers carry these
//! names, so a set's values can be counted and pre-created from its type.

/// Declares a closed set: `closed_set! { pub enum Name { Variant => "text", … } }`.
macro_rules! closed_set {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {s:?} (one of {})", stringify!($name), known.join(", "))
                })
            }
        }
    };
}
pub(crate) use closed_set;

closed_set! {
    /// Why a message went to a dead-letter topic.
    pub enum DeadLetterReason {
        /// The stage said the failure is permanent.
        NotRetryable => "not_retryable",
        /// Every attempt failed.
        Exhausted => "exhausted",
        /// The message outlived its retry window.
        ExpiredWindow => "expired_window",
        /// The message could not be read at all.
        Poison => "poison",
        /// The watchdog re-drove it the maximum number of times.
        Stuck => "stuck",
    }
}

closed_set! {
    /// Why an upload was refused, at the API or on its object-created event.
    pub enum RejectReason {
        TooLarge => "too_large",
        Empty => "empty",
        InvalidRequest => "invalid_request",
        UnsupportedType => "unsupported_type",
        /// The stored object's size is not the declared one.
        SizeMismatch => "size_mismatch",
        /// The stored object is over the size limit.
        OversizeObject => "oversize_object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_parses_back_from_its_name_and_an_unknown_one_is_refused() {
        for reason in DeadLetterReason::ALL {
            assert_eq!(reason.as_str().parse::<DeadLetterReason>(), Ok(*reason));
        }
        let refused = "tired".parse::<DeadLetterReason>().expect_err("not a reason");
        assert!(refused.contains("stuck"), "{refused}");
    }
}
