// Private to crmsync_service: how a stop request leaves a running cycle.
#pragma once

namespace crmsync::service {

// Thrown from a crash point when a stop was requested: every crash point follows a commit,
// so the step done so far is persisted and the next start resumes there (SPEC C3). The
// engine has no cancellation hook of its own; its CrashPoints seam serves as one.
struct StopRequested {};

}  // namespace crmsync::service
