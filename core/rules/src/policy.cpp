#include "crmsync/core/policy.hpp"

#include <array>

namespace crmsync {
namespace {

// One row of T2: an action on a surface, with what happens per column and the phase that
// triggers it. "no" cells are kNextSync: the change still syncs, later.
struct Rule {
  Action action;
  Surface surface;
  // Columns: received/sent mail (primary and secondary alike), draft mail, non-mail primary.
  Phase mail;  // Phase::kNone in a cell = not immediate
  Phase draft;
  Phase non_mail;
  bool mail_now;
  bool draft_now;
  bool non_mail_now;
};

constexpr std::array<Rule, 9> kTable{{
    // action               surface              mail          draft         non-mail       now?
    {Action::kTrack, Surface::kInspector, Phase::kSave, Phase::kSend, Phase::kClose, true, true,
     true},
    {Action::kUpdate, Surface::kInspector, Phase::kSave, Phase::kSend, Phase::kClose, true, true,
     true},
    {Action::kSetRegarding, Surface::kInspector, Phase::kSave, Phase::kSend, Phase::kClose, true,
     true, true},
    {Action::kUntrack, Surface::kInspector, Phase::kSave, Phase::kNone, Phase::kClose, true, false,
     true},
    {Action::kDelete, Surface::kInspector, Phase::kNone, Phase::kNone, Phase::kNone, false, false,
     false},
    {Action::kTrack, Surface::kExplorer, Phase::kNone, Phase::kNone, Phase::kNone, true, false,
     true},
    {Action::kSetRegarding, Surface::kExplorer, Phase::kNone, Phase::kNone, Phase::kNone, true,
     false, true},
    {Action::kDelete, Surface::kExplorer, Phase::kNone, Phase::kNone, Phase::kNone, false, false,
     false},
    // Sending a draft is the "on send" of the draft column.
    {Action::kSend, Surface::kInspector, Phase::kSend, Phase::kSend, Phase::kNone, true, true,
     false},
}};

bool phase_matches(Phase wanted, Phase got) {
  // kNone in a cell with now=true: any phase (explorer actions have none).
  return wanted == Phase::kNone || wanted == got ||
         // The inspector's save-then-close: mail replicates on either.
         (wanted == Phase::kSave && got == Phase::kClose);
}

}  // namespace

std::string_view to_string(Timing t) {
  switch (t) {
    case Timing::kNow:
      return "now";
    case Timing::kNextSync:
      return "next-sync";
    case Timing::kHandToPrimary:
      return "hand-to-primary";
    case Timing::kNever:
      return "never";
  }
  return "?";
}

ItemClass classify(ItemKind kind, Folder folder) {
  if (kind != ItemKind::kEmail) return ItemClass::kNonMail;
  return folder == Folder::kDrafts ? ItemClass::kDraftMail : ItemClass::kMail;
}

Timing immediate_sync(const StoreEvent& event, ItemClass item, Role role) {
  const bool primary_like = role == Role::kPrimary || role == Role::kRoaming;
  if (item == ItemClass::kNonMail) {
    if (role == Role::kDelegate) return Timing::kNever;  // P4
    if (!primary_like) return Timing::kHandToPrimary;    // T5
  }
  if (item == ItemClass::kDraftMail && event.action != Action::kSend) {
    // T3: a draft never goes to CRM; marking it for tracking takes effect on send.
    return Timing::kNever;
  }
  if (event.surface == Surface::kNone) return Timing::kNextSync;  // from elsewhere
  for (const Rule& r : kTable) {
    if (r.action != event.action || r.surface != event.surface) continue;
    bool now;
    Phase wanted;
    switch (item) {
      case ItemClass::kMail:
        now = r.mail_now;
        wanted = r.mail;
        break;
      case ItemClass::kDraftMail:
        now = r.draft_now;
        wanted = r.draft;
        break;
      case ItemClass::kNonMail:
        now = r.non_mail_now;
        wanted = r.non_mail;
        break;
    }
    if (!now) return Timing::kNextSync;
    return phase_matches(wanted, event.phase) ? Timing::kNow : Timing::kNextSync;
  }
  return Timing::kNextSync;
}

}  // namespace crmsync
