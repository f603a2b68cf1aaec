// T2–T5 as the table of the paper's Appendix B.
#include <catch2/catch.hpp>

#include "crmsync/core/policy.hpp"

using namespace crmsync;

namespace {
StoreEvent ev(Action a, Surface s, Phase p) {
  StoreEvent e;
  e.action = a;
  e.surface = s;
  e.phase = p;
  return e;
}
}  // namespace

TEST_CASE("T2: the immediate-sync table - row by row") {
  using A = Action;
  using S = Surface;
  using P = Phase;
  struct Row {
    Action action;
    Surface surface;
    Phase phase;
    ItemClass item;
    Role role;
    Timing expected;
  };
  const Row rows[] = {
      // track in inspector
      {A::kTrack, S::kInspector, P::kSave, ItemClass::kMail, Role::kPrimary, Timing::kNow},
      {A::kTrack, S::kInspector, P::kSave, ItemClass::kMail, Role::kSecondary, Timing::kNow},
      {A::kTrack, S::kInspector, P::kSave, ItemClass::kDraftMail, Role::kPrimary, Timing::kNever},
      {A::kSend, S::kInspector, P::kSend, ItemClass::kDraftMail, Role::kPrimary, Timing::kNow},
      {A::kTrack, S::kInspector, P::kSave, ItemClass::kNonMail, Role::kPrimary, Timing::kNextSync},
      {A::kTrack, S::kInspector, P::kClose, ItemClass::kNonMail, Role::kPrimary, Timing::kNow},
      {A::kTrack, S::kInspector, P::kClose, ItemClass::kNonMail, Role::kSecondary,
       Timing::kHandToPrimary},
      // update in inspector
      {A::kUpdate, S::kInspector, P::kSave, ItemClass::kMail, Role::kPrimary, Timing::kNow},
      {A::kUpdate, S::kInspector, P::kClose, ItemClass::kNonMail, Role::kPrimary, Timing::kNow},
      {A::kUpdate, S::kInspector, P::kSave, ItemClass::kNonMail, Role::kRoaming, Timing::kNextSync},
      {A::kUpdate, S::kInspector, P::kClose, ItemClass::kNonMail, Role::kDelegate, Timing::kNever},
      // untrack in inspector
      {A::kUntrack, S::kInspector, P::kSave, ItemClass::kMail, Role::kSecondary, Timing::kNow},
      {A::kUntrack, S::kInspector, P::kClose, ItemClass::kNonMail, Role::kPrimary, Timing::kNow},
      // delete: never immediate
      {A::kDelete, S::kInspector, P::kClose, ItemClass::kMail, Role::kPrimary, Timing::kNextSync},
      {A::kDelete, S::kInspector, P::kClose, ItemClass::kNonMail, Role::kPrimary,
       Timing::kNextSync},
      {A::kDelete, S::kExplorer, P::kNone, ItemClass::kMail, Role::kPrimary, Timing::kNextSync},
      {A::kDelete, S::kExplorer, P::kNone, ItemClass::kNonMail, Role::kPrimary, Timing::kNextSync},
      // explorer
      {A::kTrack, S::kExplorer, P::kNone, ItemClass::kMail, Role::kPrimary, Timing::kNow},
      {A::kTrack, S::kExplorer, P::kNone, ItemClass::kMail, Role::kSecondary, Timing::kNow},
      {A::kTrack, S::kExplorer, P::kNone, ItemClass::kNonMail, Role::kPrimary, Timing::kNow},
      {A::kTrack, S::kExplorer, P::kNone, ItemClass::kNonMail, Role::kSecondary,
       Timing::kHandToPrimary},
      {A::kSetRegarding, S::kExplorer, P::kNone, ItemClass::kMail, Role::kPrimary, Timing::kNow},
      {A::kSetRegarding, S::kExplorer, P::kNone, ItemClass::kNonMail, Role::kPrimary, Timing::kNow},
      {A::kSetRegarding, S::kExplorer, P::kNone, ItemClass::kNonMail, Role::kDelegate,
       Timing::kNever},
      // a change from elsewhere is never immediate
      {A::kUpdate, S::kNone, P::kNone, ItemClass::kMail, Role::kPrimary, Timing::kNextSync},
      {A::kTrack, S::kNone, P::kNone, ItemClass::kNonMail, Role::kPrimary, Timing::kNextSync},
  };
  for (const auto& r : rows) {
    INFO(to_string(r.action) << " in " << to_string(r.surface) << " (" << to_string(r.phase)
                             << "), " << int(r.item) << ", " << to_string(r.role));
    CHECK(to_string(immediate_sync(ev(r.action, r.surface, r.phase), r.item, r.role)) ==
          to_string(r.expected));
  }
}

TEST_CASE("T3: drafts are classified apart from received and sent mail") {
  CHECK(classify(ItemKind::kEmail, Folder::kDrafts) == ItemClass::kDraftMail);
  CHECK(classify(ItemKind::kEmail, Folder::kInbox) == ItemClass::kMail);
  CHECK(classify(ItemKind::kEmail, Folder::kSentItems) == ItemClass::kMail);
  CHECK(classify(ItemKind::kTask, Folder::kTasks) == ItemClass::kNonMail);
}

TEST_CASE("T5: a secondary hands non-e-mail changes to the primary - whatever the surface") {
  for (Surface s : {Surface::kInspector, Surface::kExplorer})
    CHECK(immediate_sync(ev(Action::kTrack, s, Phase::kClose), ItemClass::kNonMail,
                         Role::kSecondary) == Timing::kHandToPrimary);
}

TEST_CASE("G3: roles parse from the config's names") {
  CHECK(parse_role("roaming").value() == Role::kRoaming);
  CHECK_FALSE(parse_role("boss").ok());
}
