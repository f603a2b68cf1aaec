// SoapCrmAdapter's writes: create (idempotent, SPEC X1), update (conditional on the row
// version, U6), delete, SetState, and ExecuteMultiple batches of them.
#include <fmt/format.h>

#include "adapter.hpp"

namespace crmsync::crm_soap {

Result<SplitState> split_state(const FieldMap& attrs) {
  SplitState out;
  for (const auto& [k, v] : attrs) {
    if (k == "statecode" || k == "statuscode") {
      if (std::holds_alternative<std::monostate>(v)) continue;  // cannot clear a state
      const auto* n = std::get_if<std::int64_t>(&v);
      if (!n) return Error::Invalid("attribute " + k + ": must be an integer option value");
      (k == "statecode" ? out.state : out.status) = *n;
    } else {
      out.rest.emplace(k, v);
    }
  }
  return out;
}

Result<void> SoapCrmAdapter::create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) {
  const std::string what = entity_name(entity) + " " + id.str();
  if (id.is_nil()) return Error::Invalid(what + ": create needs a client-chosen id");
  CRMSYNC_TRY(check(attributes, what));
  auto split = split_state(attributes);
  if (!split.ok()) return split.error().context(what);
  bool reply_lost = false;
  auto body = call(crm_soap::create_request(entity_name(entity), id, split->rest), "Create " + what,
                   &reply_lost);
  if (!body.ok()) {
    if (!(body.error().is(ErrorKind::kConflict) && reply_lost && exists(entity, id)))
      return body.error();
    // The first attempt did create the record; its reply was lost (SPEC X1).
  }
  if (split->state || split->status) return apply_state(entity, id, split->state, split->status);
  return Ok();
}

Result<void> SoapCrmAdapter::update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                                    const std::string& row_version) {
  const std::string what = entity_name(entity) + " " + id.str();
  CRMSYNC_TRY(check(attributes, what));
  auto split = split_state(attributes);
  if (!split.ok()) return split.error().context(what);
  if (!row_version.empty()) {
    // U6: one conditional Update; a ConcurrencyVersionMismatch fault is kConflict.
    auto body =
        call(crm_soap::update_request(entity_name(entity), id, conditional(*split), row_version),
             "Update " + what);
    if (!body.ok()) return body.error();
    return Ok();
  }
  if (!split->rest.empty()) {
    auto body =
        call(crm_soap::update_request(entity_name(entity), id, split->rest), "Update " + what);
    if (!body.ok()) return body.error();
  }
  if (split->state || split->status) return apply_state(entity, id, split->state, split->status);
  return Ok();
}

Result<void> SoapCrmAdapter::remove(CrmEntity entity, const CrmId& id) {
  const std::string what = "Delete " + entity_name(entity) + " " + id.str();
  bool reply_lost = false;
  auto body = call(crm_soap::delete_request(entity_name(entity), id), what, &reply_lost);
  // A retry of a delete whose reply was lost finds the record gone: the delete happened.
  if (!body.ok() && !(reply_lost && body.error().is(ErrorKind::kNotFound))) return body.error();
  return Ok();
}

Result<void> SoapCrmAdapter::set_state(CrmEntity entity, const CrmId& id, int state, int status) {
  const std::string what = "SetState " + entity_name(entity) + " " + id.str();
  auto body = call(crm_soap::set_state_request(entity_name(entity), id, state, status), what);
  if (!body.ok()) return body.error();
  return Ok();
}

Result<std::vector<Result<void>>> SoapCrmAdapter::execute_batch(
    const std::vector<CrmOperation>& operations) {
  // Each operation becomes one or two requests (an update's state goes through SetState).
  struct Expanded {
    RequestWriter writer;
    std::size_t op;
    bool is_create;
  };
  std::vector<Result<void>> results(operations.size(), Ok());
  std::vector<std::vector<Expanded>> per_op(operations.size());
  for (std::size_t i = 0; i < operations.size(); ++i) {
    const CrmOperation& op = operations[i];
    const std::string name = entity_name(op.entity);
    const std::string what = name + " " + op.id.str();
    using T = CrmOperation::Type;
    if (op.type == T::kCreate || op.type == T::kUpdate) {
      if (auto c = check(op.attributes, what); !c.ok()) {
        results[i] = c.error();
        continue;
      }
      auto split = split_state(op.attributes);
      if (!split.ok()) {
        results[i] = split.error().context(what);
        continue;
      }
      if (op.type == T::kCreate && op.id.is_nil()) {
        results[i] = Error::Invalid(what + ": create needs a client-chosen id");
        continue;
      }
      if (op.type == T::kUpdate && !op.row_version.empty()) {
        per_op[i].push_back(
            {crm_soap::update_request(name, op.id, conditional(*split), op.row_version), i, false});
        continue;
      }
      if (op.type == T::kCreate || !split->rest.empty())
        per_op[i].push_back({op.type == T::kCreate
                                 ? crm_soap::create_request(name, op.id, split->rest)
                                 : crm_soap::update_request(name, op.id, split->rest),
                             i, op.type == T::kCreate});
      if (split->state || split->status) {
        if (!split->state) {
          auto current = current_state(op.entity, op.id);
          if (!current.ok()) {
            results[i] = current.error();
            per_op[i].clear();
            continue;
          }
          split->state = *current;
        }
        per_op[i].push_back(
            {crm_soap::set_state_request(name, op.id, static_cast<int>(*split->state),
                                         static_cast<int>(split->status.value_or(-1))),
             i, false});
      }
    } else if (op.type == T::kDelete) {
      per_op[i].push_back({crm_soap::delete_request(name, op.id), i, false});
    } else {
      per_op[i].push_back(
          {crm_soap::set_state_request(name, op.id, op.state, op.status), i, false});
    }
  }
  // Chunks of at most kMaxBatch requests; an operation's requests stay together.
  std::vector<std::vector<Expanded>> chunks(1);
  for (auto& reqs : per_op) {
    if (reqs.empty()) continue;
    if (chunks.back().size() + reqs.size() > kMaxBatch) chunks.emplace_back();
    for (auto& r : reqs) chunks.back().push_back(std::move(r));
  }
  bool first = true;
  for (const auto& chunk : chunks) {
    if (chunk.empty()) continue;
    std::vector<RequestWriter> writers;
    for (const auto& e : chunk) writers.push_back(e.writer);
    bool reply_lost = false;
    auto body = call(crm_soap::execute_multiple_request(writers), "ExecuteMultiple", &reply_lost);
    auto items = body.ok() ? finish(crm_soap::parse_execute_multiple(*body), "ExecuteMultiple")
                           : Result<std::vector<crm_soap::BatchItem>>(body.error());
    if (!items.ok()) {
      if (first) return items.error();
      for (const auto& e : chunk)
        if (results[e.op].ok()) results[e.op] = items.error();
      continue;
    }
    first = false;
    for (const auto& item : *items) {
      if (item.index < 0 || static_cast<std::size_t>(item.index) >= chunk.size()) continue;
      if (!item.fault) continue;
      const Expanded& e = chunk[item.index];
      if (!results[e.op].ok()) continue;  // the operation's first failure wins
      Error err = crm_soap::redact(crm_soap::error_from_fault(*item.fault), secrets());
      const CrmOperation& op = operations[e.op];
      if (e.is_create && err.is(ErrorKind::kConflict) && reply_lost && exists(op.entity, op.id))
        continue;  // created by the attempt whose reply was lost
      results[e.op] = err.context(entity_name(op.entity) + " " + op.id.str());
    }
  }
  return results;
}

// The attributes of a conditional Update (U6): state and status go with the others.
// Servers that send RowVersion (Dynamics CRM 2015 Update 1 and later) set statecode and
// statuscode through Update, and SetState after the Update would be a second write that
// no version guards.
FieldMap SoapCrmAdapter::conditional(const SplitState& split) {
  FieldMap attrs = split.rest;
  if (split.state) attrs.insert_or_assign("statecode", Value{*split.state});
  if (split.status) attrs.insert_or_assign("statuscode", Value{*split.status});
  return attrs;
}

Result<void> SoapCrmAdapter::apply_state(CrmEntity entity, const CrmId& id,
                                         std::optional<std::int64_t> state,
                                         std::optional<std::int64_t> status) {
  if (!state) {
    auto current = current_state(entity, id);
    if (!current.ok()) return current.error();
    state = *current;
  }
  return set_state(entity, id, static_cast<int>(*state), static_cast<int>(status.value_or(-1)));
}

}  // namespace crmsync::crm_soap
