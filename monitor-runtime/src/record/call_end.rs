//! The end of a call: the guard's frame on its thread's stack (attached while the call
//! runs or is polled), and the record, log line and span end written when it finishes.

use super::clock;
use super::context::{self, Frame, Notes};
use super::finished::Record;
use crate::capture::{self};
use crate::entry::{ErrorInfo, Status};

use super::guard::TraceGuard;

impl<'t> TraceGuard<'t> {
    pub(super) fn attach(&mut self) {
        if !self.attached {
            context::push(Frame {
                trace_id: self.trace_id,
                span_id: self.span_id,
                notes: self.notes.take(),
                remote: false,
                origin: self.origin,
            });
            self.attached = true;
            #[cfg(feature = "tracing-spans")]
            if let Some(span) = &self.span {
                crate::record::span::enter(span);
            }
        }
    }

    /// Takes the frame off the stack, keeping its notes.
    pub(super) fn detach(&mut self) {
        let (found, notes) = context::pop(self.span_id);
        self.keep_notes(found, notes);
    }

    /// Takes the frame off the stack for good; returns the thread the call ends on.
    fn detach_finished(&mut self) -> u32 {
        let (found, notes, thread) = context::pop_finished(self.span_id);
        self.keep_notes(found, notes);
        thread
    }

    #[inline(always)]
    fn keep_notes(&mut self, found: bool, notes: Option<Box<Notes>>) {
        if !self.attached {
            context::drop_notes(notes);
            return;
        }
        #[cfg(feature = "tracing-spans")]
        if let Some(span) = &self.span {
            crate::record::span::exit(span);
        }
        if found {
            context::drop_notes(std::mem::replace(&mut *self.notes, notes));
        } else {
            context::drop_notes(notes);
        }
        self.attached = false;
    }

    pub(super) fn record_now(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        self.stop_clock();
        let thread = self.detach_finished();
        let status = if std::thread::panicking() && !self.started_unwinding {
            self.record_panic()
        } else {
            self.status.unwrap_or(if self.expects_outcome {
                Status::Unfinished
            } else {
                Status::Success
            })
        };
        if self.notes.is_some() {
            self.merge_notes();
        }
        if crate::record::log::enabled() {
            // The subscriber is user code: a panic there, or a log line of a call made
            // from inside its callback, changes nothing here.
            crate::record::subscriber::call(|| self.log_line(status));
        }
        #[cfg(feature = "tracing-spans")]
        if let Some(span) = self.span.take() {
            let details = self.details.as_deref();
            let ended = crate::record::span::Ended {
                status,
                error: details
                    .and_then(|d| d.error.as_ref())
                    .map(|e| e.message.as_str()),
                tokens: details.and_then(|d| d.tokens.as_ref()),
                quality: self.quality,
            };
            crate::record::span::end(span, &ended);
        }
        let details = self.details.take();
        let has_tokens = details.as_ref().is_some_and(|d| d.tokens.is_some());
        let make = || Record {
            module: self.module,
            thread,
            status,
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            origin: self.origin,
            start_raw: self.start,
            end_raw: self.end,
            quality: self.quality,
            details,
        };
        if super::rollup::needs_spend(has_tokens, || self.local_root()) {
            let mut record = make();
            record.spend();
            self.tracer.record_with(thread, || record);
        } else {
            // Made in its ring slot: nothing of the record is copied on the way.
            self.tracer.record_with(thread, make);
        }
    }

    /// Notes the panic this call ends in, with its message and backtrace.
    #[cold]
    #[inline(never)]
    fn record_panic(&mut self) -> Status {
        let (message, backtrace) = match super::panic::panic_since(self.start) {
            Some(panic) => (panic.message, panic.backtrace),
            // Another panic hook replaced ours without calling it.
            None => ("panic (message unavailable)".to_owned(), None),
        };
        let mut error = ErrorInfo::new("panic", message);
        capture::bound_error(&mut error, self.tracer.max_field_bytes());
        let details = self.details();
        details.error = Some(error);
        details.backtrace = backtrace;
        Status::Panic
    }

    /// Emits the call's log line, when its module's level lets one through.
    #[cold]
    #[inline(never)]
    fn log_line(&self, status: Status) {
        let Some(line) = crate::record::log::line_for(self.module, status) else {
            return;
        };
        let details = self.details.as_deref();
        let call = crate::record::log::Finished {
            module: self.module,
            status,
            duration_ns: clock::nanos_between(self.start, self.end),
            error: details
                .and_then(|d| d.error.as_ref())
                .map(|e| e.message.as_str()),
            quality: self.quality,
            tokens: details.and_then(|d| d.tokens.as_ref()),
            values: details.map(|d| &d.values),
        };
        crate::record::log::emit(line, &call);
    }

    #[cold]
    #[inline(never)]
    fn merge_notes(&mut self) {
        let Some(mut notes) = self.notes.take() else {
            return;
        };
        if self.quality.is_none() {
            self.quality = notes.quality;
        }
        if notes.tokens.is_none()
            && notes.validation_errors.is_empty()
            && notes.attributes.is_empty()
            && notes.scores.is_empty()
        {
            return;
        }
        let max = self.tracer.max_field_bytes();
        super::scores::merge_noted(self.details(), &mut notes, max);
        notes.merge_into(self.details(), max);
    }
}
