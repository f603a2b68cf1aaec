// crmsync-bench: the helper scripts/bench drives. Each subcommand prints key=value lines
// on stdout (the script reads them); errors go to stderr with exit code 1.
//
//   seed-crm --url U --token-file F [--contacts N] [--tasks N] [--appointments N] --ids-out F
//   seed-mailbox --db F [--contacts N] [--tasks N] [--appointments N]
//   change-crm --url U --token-file F --ids F --update N --delete N
//   change-mailbox --db F --update N --delete N
//   measure [--cache F] -- CMD ARGS...     wall time, peak RSS, exit code; cache commits
//   stats --url U                          SOAP requests the emulator has taken in so far
//   add-user --url U --token T             POST /admin/users
//   latency --db F --url U --events N      T2: tracked contact added -> record in CRM
//   idle --pid P --seconds S               CPU time and RSS of a process over S seconds
//   age --db F --cache F --ms MS           as if the last sync had been MS earlier
//   gen-vcards --dir D --n N | touch-vcards --dir D --n N
//   limits --url U                         SQLite inserts/s, tinyxml2 MB/s, HTTP round trips/s
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tinyxml2.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "crmsync/core/sqlite.hpp"
#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/http/client.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"

namespace fs = std::filesystem;
using namespace crmsync;
using Clock_ = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "crmsync-bench: " << msg << "\n";
  std::exit(1);
}

template <class T>
T must(Result<T> r, const std::string& what) {
  if (!r.ok()) die(what + ": " + r.error().describe());
  return std::move(r.value());
}
void must(Result<void> r, const std::string& what) {
  if (!r.ok()) die(what + ": " + r.error().describe());
}

double seconds_since(Clock_::time_point t0) {
  return std::chrono::duration<double>(Clock_::now() - t0).count();
}

struct Args {
  std::map<std::string, std::string> opts;
  std::vector<std::string> rest;  // after "--"
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    if (it != opts.end()) return it->second;
    if (def.empty()) die("missing --" + k);
    return def;
  }
  long num(const std::string& k, long def) const {
    auto it = opts.find(k);
    return it == opts.end() ? def : std::stol(it->second);
  }
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--") {
      for (++i; i < argc; ++i) a.rest.emplace_back(argv[i]);
      break;
    }
    if (s.rfind("--", 0) != 0 || i + 1 >= argc) die("bad argument " + s);
    a.opts[s.substr(2)] = argv[++i];
  }
  return a;
}

std::unique_ptr<CrmAdapter> crm_adapter(const Args& a) {
  SoapCrmConfig c;
  c.base_url = a.get("url");
  c.auth.type = SoapCrmAuth::Type::kBearerFile;
  c.auth.token_file = a.get("token-file");
  return make_soap_crm_adapter(c, system_clock());
}

std::string admin_get(const std::string& url) {
  http::Client client;
  http::Request req;
  req.method = "GET";
  req.url = url;
  auto r = must(client.send(req), "GET " + url);
  if (r.status != 200) die("GET " + url + ": HTTP " + std::to_string(r.status));
  return r.body;
}

std::string base(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// ---- seeding -------------------------------------------------------------------------

FieldMap crm_attributes(CrmEntity e, long i) {
  const UtcTime day{1'900'000'000'000 + i * 3'600'000};  // 2030 onwards: future items
  switch (e) {
    case CrmEntity::kTask:
      return {{"subject", Value{fmt::format("Bench task {}", i)}},
              {"description", Value{std::string("Call back about the quote")}},
              {"scheduledend", Value{day}}};
    case CrmEntity::kAppointment:
      return {{"subject", Value{fmt::format("Bench meeting {}", i)}},
              {"location", Value{std::string("Room 4")}},
              {"scheduledstart", Value{day}},
              {"scheduledend", Value{UtcTime{day.ms + 1'800'000}}}};
    default:
      return {{"firstname", Value{fmt::format("First{}", i)}},
              {"lastname", Value{fmt::format("Bench{}", i)}},
              {"emailaddress1", Value{fmt::format("bench{}@example.org", i)}},
              {"telephone1", Value{fmt::format("+1 555 {:07}", i)}},
              {"jobtitle", Value{std::string("Engineer")}},
              {"address1_city", Value{std::string("Springfield")}}};
  }
}

int seed_crm(const Args& a) {
  auto crm = crm_adapter(a);
  std::ofstream ids(a.get("ids-out"));
  auto t0 = Clock_::now();
  long total = 0;
  for (auto [entity, key] :
       {std::pair{CrmEntity::kContact, "contacts"}, std::pair{CrmEntity::kTask, "tasks"},
        std::pair{CrmEntity::kAppointment, "appointments"}}) {
    const long n = a.num(key, 0);
    for (long first = 0; first < n; first += 1000) {
      std::vector<CrmOperation> ops;
      for (long i = first; i < std::min(n, first + 1000); ++i) {
        CrmOperation op;
        op.type = CrmOperation::Type::kCreate;
        op.entity = entity;
        op.id = CrmId::generate();
        op.attributes = crm_attributes(entity, i);
        ids << to_string(entity) << " " << op.id.str() << "\n";
        ops.push_back(std::move(op));
      }
      auto results = must(crm->execute_batch(ops), "ExecuteMultiple");
      for (const auto& r : results) must(r, "create");
      total += static_cast<long>(ops.size());
    }
  }
  std::cout << fmt::format("seeded={}\nseconds={:.3f}\n", total, seconds_since(t0));
  return 0;
}

FieldMap store_fields(ItemKind k, long i) {
  switch (k) {
    case ItemKind::kTask:
      return {{"Subject", Value{fmt::format("Mailbox task {}", i)}},
              {"Body", Value{std::string("Send the proposal")}},
              {"DueDate", Value{Date::from_days_since_epoch(22000 + i % 1000)}}};
    case ItemKind::kAppointment: {
      const UtcTime start{1'900'000'000'000 + i * 3'600'000};
      return {{"Subject", Value{fmt::format("Mailbox meeting {}", i)}},
              {"Location", Value{std::string("Room 7")}},
              {"Start", Value{start}},
              {"End", Value{UtcTime{start.ms + 1'800'000}}}};
    }
    default:
      return {{"FirstName", Value{fmt::format("Mb{}", i)}},
              {"LastName", Value{fmt::format("Mailbox{}", i)}},
              {"Email1Address", Value{fmt::format("mailbox{}@example.net", i)}},
              {"BusinessTelephoneNumber", Value{fmt::format("+1 555 {:07}", i)}},
              {"JobTitle", Value{std::string("Analyst")}}};
  }
}

int seed_mailbox(const Args& a) {
  auto mb = must(open_mock_mailbox(a.get("db"), system_clock()), "mailbox");
  auto t0 = Clock_::now();
  long total = 0;
  for (auto [kind, key] :
       {std::pair{ItemKind::kContact, "contacts"}, std::pair{ItemKind::kTask, "tasks"},
        std::pair{ItemKind::kAppointment, "appointments"}}) {
    const long n = a.num(key, 0);
    for (long i = 0; i < n; ++i, ++total)
      must(mb->add(kind, std::nullopt, store_fields(kind, i), true, Surface::kNone), "add");
  }
  std::cout << fmt::format("seeded={}\nseconds={:.3f}\n", total, seconds_since(t0));
  return 0;
}

// ---- changes -------------------------------------------------------------------------

int change_crm(const Args& a) {
  auto crm = crm_adapter(a);
  std::ifstream in(a.get("ids"));
  std::vector<CrmId> contacts;
  std::string entity, id;
  while (in >> entity >> id)
    if (entity == "contact") contacts.push_back(must(CrmId::parse(id), "id"));
  const long up = a.num("update", 10), del = a.num("delete", 5);
  if (static_cast<long>(contacts.size()) < up + del) die("not enough seeded contacts");
  // Spread over the whole range; a fresh value each run (the time) so it is a real change.
  const long step = static_cast<long>(contacts.size()) / (up + del);
  const auto stamp = std::to_string(system_clock().now().ms);
  for (long i = 0; i < up; ++i)
    must(crm->update(CrmEntity::kContact, contacts[static_cast<std::size_t>(i * step)],
                     {{"jobtitle", Value{"Changed " + stamp}}}, ""),  // another user's edit
         "update");
  for (long i = up; i < up + del; ++i)
    must(crm->remove(CrmEntity::kContact, contacts[static_cast<std::size_t>(i * step)]), "delete");
  std::cout << fmt::format("updated={}\ndeleted={}\n", up, del);
  return 0;
}

int change_mailbox(const Args& a) {
  auto mb = must(open_mock_mailbox(a.get("db"), system_clock()), "mailbox");
  auto items = must(mb->list(ItemKind::kContact), "list");
  const long up = a.num("update", 10), del = a.num("delete", 5);
  if (static_cast<long>(items.size()) < up + del) die("not enough contacts");
  const long step = static_cast<long>(items.size()) / (up + del);
  const auto stamp = std::to_string(system_clock().now().ms);
  for (long i = 0; i < up; ++i)
    must(mb->set(items[static_cast<std::size_t>(i * step)].entry_id,
                 {{"JobTitle", Value{"Changed " + stamp}}}, Surface::kNone),
         "set");
  for (long i = up; i < up + del; ++i)
    must(mb->remove(items[static_cast<std::size_t>(i * step)].entry_id, Surface::kNone), "remove");
  std::cout << fmt::format("updated={}\ndeleted={}\n", up, del);
  return 0;
}

// Moves the mailbox's times and the cache's watermark and verified times MS into the past
// together: the state a sync made MS ago, for the no-op "synced an hour earlier" (the S2
// scan's window is relative to its watermark and the clock).
int age(const Args& a) {
  const std::int64_t ms = a.num("ms", 3'600'000);
  auto mb = must(sql::Database::open(a.get("db"), sql::Database::Mode::kReadWrite), "mailbox");
  auto tx = must(sql::Transaction::begin(mb), "begin");
  auto items = must(mb.prepare("UPDATE items SET modified = modified - ?1"), "prepare");
  must(items.bind(1, ms).run(), "age items");
  auto events = must(mb.prepare("UPDATE events SET at = at - ?1"), "prepare");
  must(events.bind(1, ms).run(), "age events");
  must(tx.commit(), "commit");
  auto cache = must(sql::Database::open(a.get("cache"), sql::Database::Mode::kReadWrite), "cache");
  auto ctx = must(sql::Transaction::begin(cache), "begin");
  auto wm = must(cache.prepare("UPDATE meta SET value = CAST(CAST(value AS INTEGER) - ?1 AS TEXT) "
                               "WHERE key = 'store.watermark'"),
                 "prepare");
  must(wm.bind(1, ms).run(), "age watermark");
  auto seen = must(cache.prepare("UPDATE id_mapping SET verified_time = verified_time - ?1 "
                                 "WHERE verified_time > 0"),
                   "prepare");
  must(seen.bind(1, ms).run(), "age verified times");
  must(ctx.commit(), "commit");
  std::cout << "aged_ms=" << ms << "\n";
  return 0;
}

// ---- measuring a child ----------------------------------------------------------------

// Commit frames in the cache's WAL (frames whose "database size after commit" is set and
// whose salts match the header): a lower bound of the commits since the WAL was last reset.
long wal_commit_frames(const std::string& wal) {
  std::ifstream f(wal, std::ios::binary);
  if (!f) return 0;
  unsigned char h[32];
  if (!f.read(reinterpret_cast<char*>(h), 32)) return 0;
  auto be32 = [](const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
  };
  const std::uint32_t page = be32(h + 8), salt1 = be32(h + 16), salt2 = be32(h + 20);
  long commits = 0;
  std::vector<char> buf(page);
  unsigned char fh[24];
  while (f.read(reinterpret_cast<char*>(fh), 24) && f.read(buf.data(), page)) {
    if (be32(fh + 8) != salt1 || be32(fh + 12) != salt2) break;
    if (be32(fh + 4) != 0) ++commits;
  }
  return commits;
}

int measure(const Args& a) {
  if (a.rest.empty()) die("measure: no command after --");
  std::optional<sql::Database> cache;
  std::int64_t dv0 = 0;
  const std::string cache_path = a.opts.count("cache") ? a.get("cache") : "";
  if (!cache_path.empty()) {
    // Held open while the child runs, so the child's close does not delete the WAL; its
    // data_version changes when another connection commits.
    cache = must(sql::Database::open(cache_path, sql::Database::Mode::kReadWrite), "cache");
    dv0 = must(cache->data_version(), "data_version");
  }
  auto t0 = Clock_::now();
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    if (a.opts.count("quiet")) {
      dup2(null, 1);
      dup2(null, 2);
    }
    std::vector<char*> argv;
    for (const auto& s : a.rest) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  const double wall = seconds_since(t0);
  std::cout << fmt::format("wall={:.3f}\nmaxrss_kb={}\nrc={}\ncpu={:.3f}\n", wall, ru.ru_maxrss,
                           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                               ru.ru_stime.tv_usec / 1e6);
  if (cache) {
    const std::int64_t dv1 = must(cache->data_version(), "data_version");
    const long frames = dv1 == dv0 ? 0 : std::max(1L, wal_commit_frames(cache_path + "-wal"));
    std::cout << fmt::format("cache_commits={}\n", frames);
  }
  return 0;
}

int stats(const Args& a) {
  std::string body = admin_get(base(a.get("url")) + "/admin/stats");
  auto p = body.find("\"requests\":");
  if (p == std::string::npos) die("bad /admin/stats reply");
  std::cout << "requests=" << std::stoll(body.substr(p + 11)) << "\n";
  return 0;
}

int add_user(const Args& a) {
  http::Client client;
  http::Request req;
  req.url = base(a.get("url")) + "/admin/users";
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = R"({"fullname":"Bench User","token":")" + a.get("token") + "\"}";
  auto r = must(client.send(req), "POST /admin/users");
  if (r.status != 200) die("POST /admin/users: HTTP " + std::to_string(r.status) + " " + r.body);
  std::cout << "ok=1\n";
  return 0;
}

// ---- T2 latency, idle ------------------------------------------------------------------

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int latency(const Args& a) {
  auto mb = must(open_mock_mailbox(a.get("db"), system_clock()), "mailbox");
  const std::string records = base(a.get("url")) + "/admin/records/contact";
  const long n = a.num("events", 200);
  const long timeout_ms = a.num("timeout-ms", 30'000);
  http::Client client;
  std::vector<double> ms;
  const std::string run = std::to_string(system_clock().now().ms);
  for (long i = 0; i < n; ++i) {
    const std::string name = "Latency" + run + "x" + std::to_string(i);
    auto t0 = Clock_::now();
    must(mb->add(ItemKind::kContact, std::nullopt,
                 {{"FirstName", Value{std::string("T2")}}, {"LastName", Value{name}}}, true,
                 Surface::kExplorer),
         "add");
    for (;;) {
      http::Request req;
      req.method = "GET";
      req.url = records;
      auto r = must(client.send(req), "GET records");
      if (r.body.find("\"" + name + "\"") != std::string::npos) break;
      if (seconds_since(t0) * 1000 > static_cast<double>(timeout_ms))
        die("event " + std::to_string(i) + " did not reach CRM within the timeout");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ms.push_back(seconds_since(t0) * 1000);
  }
  std::cout << fmt::format("events={}\np50_ms={:.0f}\np99_ms={:.0f}\nmax_ms={:.0f}\n", n,
                           percentile(ms, 0.5), percentile(ms, 0.99), percentile(ms, 1.0));
  return 0;
}

struct ProcSample {
  double cpu_s = 0;
  long rss_kb = 0, hwm_kb = 0;
};
ProcSample sample(long pid) {
  ProcSample s;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(st, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) die("no such process " + std::to_string(pid));
  std::istringstream in(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; in >> x;) f.push_back(x);
  // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tick;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string l; std::getline(status, l);) {
    if (l.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(l.substr(6));
    if (l.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::stol(l.substr(6));
  }
  return s;
}

int idle(const Args& a) {
  const long pid = a.num("pid", 0);
  const double secs = static_cast<double>(a.num("seconds", 60));
  ProcSample s0 = sample(pid);
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  ProcSample s1 = sample(pid);
  std::cout << fmt::format("cpu_s={:.3f}\ncpu_pct={:.3f}\nrss_kb={}\nhwm_kb={}\n",
                           s1.cpu_s - s0.cpu_s, 100 * (s1.cpu_s - s0.cpu_s) / secs, s1.rss_kb,
                           s1.hwm_kb);
  return 0;
}

// ---- vCards for the peer -------------------------------------------------------------

std::string vcard(long i, const std::string& extra) {
  return fmt::format(
      "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-{0}\r\nFN:First{0} "
      "Bench{0}\r\nN:Bench{0};First{0};;;\r\n"
      "EMAIL;TYPE=INTERNET:bench{0}@example.org\r\nTEL;TYPE=WORK:+1 555 {0:07}\r\n"
      "TITLE:Engineer{1}\r\nADR;TYPE=WORK:;;;Springfield;;;\r\nEND:VCARD\r\n",
      i, extra);
}

int gen_vcards(const Args& a) {
  fs::path dir = a.get("dir");
  fs::create_directories(dir);
  const long n = a.num("n", 1000);
  for (long i = 0; i < n; ++i) std::ofstream(dir / fmt::format("bench-{}.vcf", i)) << vcard(i, "");
  std::cout << "written=" << n << "\n";
  return 0;
}

int touch_vcards(const Args& a) {
  fs::path dir = a.get("dir");
  const long n = a.num("n", 10), total = a.num("of", n);
  const long step = std::max(1L, total / n);
  const std::string stamp = " changed " + std::to_string(system_clock().now().ms);
  for (long k = 0; k < n; ++k)
    std::ofstream(dir / fmt::format("bench-{}.vcf", k * step)) << vcard(k * step, stamp);
  std::cout << "changed=" << n << "\n";
  return 0;
}

// ---- the raw limits --------------------------------------------------------------------

int limits(const Args& a) {
  // SQLite with the cache's settings (core's wrapper: WAL, synchronous=NORMAL, busy timeout).
  fs::path dir = fs::temp_directory_path() / fmt::format("crmsync-bench-{}", getpid());
  fs::create_directories(dir);
  {
    auto db = must(sql::Database::open((dir / "limits.db").string()), "open");
    must(db.use_wal(), "wal");
    must(db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, crm_id TEXT UNIQUE, state TEXT)"), "ddl");
    const std::string payload(300, 'x');  // about an original state's size
    auto insert = [&](long i) {
      auto s = must(db.cached("INSERT INTO t(crm_id, state) VALUES (?, ?)"), "prepare");
      must(s->bind(1, CrmId::generate().str()).bind(2, payload).run(), "insert");
      (void)i;
    };
    const long single = a.num("sqlite-single", 5000);
    auto t0 = Clock_::now();
    for (long i = 0; i < single; ++i) {
      auto tx = must(sql::Transaction::begin(db), "begin");
      insert(i);
      must(tx.commit(), "commit");
    }
    const double s1 = seconds_since(t0);
    const long batched = a.num("sqlite-batched", 200000);
    t0 = Clock_::now();
    for (long first = 0; first < batched; first += 1000) {
      auto tx = must(sql::Transaction::begin(db), "begin");
      for (long i = first; i < std::min(batched, first + 1000); ++i) insert(i);
      must(tx.commit(), "commit");
    }
    const double s2 = seconds_since(t0);
    std::cout << fmt::format("sqlite_tx_per_insert_per_s={:.0f}\nsqlite_batched_per_s={:.0f}\n",
                             single / s1, batched / s2);
  }
  fs::remove_all(dir);

  // tinyxml2 on a RetrieveEntityChanges-like response (5000 contacts, 7 attributes each).
  std::string xml =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
      "<ExecuteResponse><ExecuteResult><a:Results><a:KeyValuePairOfstringanyType><c:key>"
      "EntityChanges</c:key><c:value><b:Changes>";
  for (long i = 0; i < 5000; ++i) {
    xml += "<b:anyType i:type=\"b:NewOrUpdatedItem\"><b:NewOrUpdatedEntity><a:Attributes>";
    for (const auto& [k, v] : crm_attributes(CrmEntity::kContact, i))
      xml += "<a:KeyValuePairOfstringanyType><c:key>" + k +
             "</c:key><c:value i:type=\"d:string\">" + std::get<std::string>(v) +
             "</c:value></a:KeyValuePairOfstringanyType>";
    xml += "<a:KeyValuePairOfstringanyType><c:key>contactid</c:key><c:value i:type=\"e:guid\">" +
           CrmId::generate().str() + "</c:value></a:KeyValuePairOfstringanyType>";
    xml += "</a:Attributes><a:EntityState i:nil=\"true\"/><a:FormattedValues/><a:Id>" +
           CrmId::generate().str() +
           "</a:Id><a:LogicalName>contact</a:LogicalName><a:RelatedEntities/>"
           "</b:NewOrUpdatedEntity><b:Type>NewOrUpdated</b:Type></b:anyType>";
  }
  xml +=
      "</b:Changes></c:value></a:KeyValuePairOfstringanyType></a:Results></ExecuteResult>"
      "</ExecuteResponse></s:Body></s:Envelope>";
  int rounds = 0;
  auto t0 = Clock_::now();
  while (seconds_since(t0) < 2.0 || rounds < 3) {
    tinyxml2::XMLDocument doc;
    if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) die("xml parse");
    ++rounds;
  }
  std::cout << fmt::format("xml_mb={:.1f}\nxml_mb_per_s={:.1f}\n", xml.size() / 1e6,
                           rounds * (xml.size() / 1e6) / seconds_since(t0));

  // Loopback HTTP round trips, one keep-alive connection (crmsync's Beast client).
  const std::string url = base(a.get("url")) + "/admin/stats";
  http::Client client;
  long trips = 0;
  t0 = Clock_::now();
  while (seconds_since(t0) < 2.0) {
    http::Request req;
    req.method = "GET";
    req.url = url;
    must(client.send(req), "GET");
    ++trips;
  }
  std::cout << fmt::format("http_round_trips_per_s={:.0f}\n", trips / seconds_since(t0));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: crmsync-bench COMMAND [--key value...] (see the source's header)");
  const std::string cmd = argv[1];
  const Args a = parse(argc, argv);
  if (cmd == "seed-crm") return seed_crm(a);
  if (cmd == "seed-mailbox") return seed_mailbox(a);
  if (cmd == "change-crm") return change_crm(a);
  if (cmd == "change-mailbox") return change_mailbox(a);
  if (cmd == "measure") return measure(a);
  if (cmd == "stats") return stats(a);
  if (cmd == "add-user") return add_user(a);
  if (cmd == "latency") return latency(a);
  if (cmd == "idle") return idle(a);
  if (cmd == "age") return age(a);
  if (cmd == "gen-vcards") return gen_vcards(a);
  if (cmd == "touch-vcards") return touch_vcards(a);
  if (cmd == "limits") return limits(a);
  die("unknown command " + cmd);
}
