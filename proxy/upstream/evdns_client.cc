// EvdnsClient: evdns_getaddrinfo lookups mapped to DnsResult.
#include "proxy/upstream/evdns_client.h"

#include <event2/dns.h>
#include <event2/util.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "proxy/log.h"

namespace mcmesh::upstream {
namespace {

// One lookup in flight. Owned by evdns until its callback runs (also on cancel, which evdns
// reports through the callback with EVUTIL_EAI_CANCEL).
class EvdnsQuery : public DnsQuery {
 public:
  EvdnsQuery(std::string name, DnsCallback callback)
      : name_(std::move(name)), callback_(std::move(callback)) {}
  void cancel() override {
    callback_ = nullptr;
    if (request_ != nullptr) evdns_getaddrinfo_cancel(request_);  // runs onAnswer: deletes this.
  }

  static void onAnswer(int result, evutil_addrinfo* res, void* arg) {
    auto* query = static_cast<EvdnsQuery*>(arg);
    DnsCallback callback = std::move(query->callback_);
    std::string name = std::move(query->name_);
    delete query;
    DnsResult answer = toResult(name, result, res);
    if (res != nullptr) evutil_freeaddrinfo(res);
    if (callback && result != EVUTIL_EAI_CANCEL) callback(std::move(answer));
  }

  evdns_getaddrinfo_request* request_ = nullptr;

 private:
  static DnsResult toResult(const std::string& name, int result, evutil_addrinfo* res) {
    if (result == 0) {
      std::vector<DnsRecord> records;
      for (evutil_addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        DnsRecord r;
        r.len = static_cast<socklen_t>(std::min<size_t>(ai->ai_addrlen, sizeof(r.addr)));
        std::memcpy(&r.addr, ai->ai_addr, r.len);
        records.push_back(r);
      }
      if (!records.empty()) return records;
      return absl::NotFoundError(absl::StrCat(name, ": no A or AAAA record"));
    }
    std::string why = evutil_gai_strerror(result);
    // NXDOMAIN and "no records of this type" are answers: the name does not exist (now).
    if (result == EVUTIL_EAI_NONAME || result == EVUTIL_EAI_NODATA) {
      return absl::NotFoundError(absl::StrCat(name, " does not resolve (", why, ")"));
    }
    return absl::UnavailableError(absl::StrCat("no DNS answer for ", name, " (", why, ")"));
  }

  std::string name_;
  DnsCallback callback_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EvdnsClient>> EvdnsClient::create(event_base* base,
                                                                 const DnsOptions& options) {
  evdns_base* dns = evdns_base_new(base, 0);
  if (dns == nullptr) return absl::InternalError("evdns_base_new failed");
  int rc = evdns_base_resolv_conf_parse(dns, DNS_OPTION_SEARCH | DNS_OPTION_NAMESERVERS |
                                                 DNS_OPTION_MISC,
                                        options.resolv_conf.c_str());
  if (rc == 1 || rc == 6) {
    // As glibc does: no file, or no nameserver in it, means a resolver on this host.
    logLine(LogLevel::kWarn, absl::StrCat(options.resolv_conf,
                                          rc == 1 ? " cannot be read" : " lists no nameserver",
                                          ": DNS queries go to 127.0.0.1:53"));
  } else if (rc != 0) {
    evdns_base_free(dns, 0);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use ", options.resolv_conf, " (evdns error ", rc, ")"));
  }
  if (!options.hosts_file.empty() && evdns_base_load_hosts(dns, options.hosts_file.c_str()) != 0) {
    logLine(LogLevel::kWarn, absl::StrCat("cannot read hosts file ", options.hosts_file,
                                          ": names go to DNS only"));
  }
  return std::unique_ptr<EvdnsClient>(new EvdnsClient(dns));
}

EvdnsClient::~EvdnsClient() {
  // Lookups still in flight are failed (their callbacks run now); the resolver that owned them
  // is gone already, so they were cancelled before this.
  evdns_base_free(dns_, 1);
}

DnsQuery* EvdnsClient::resolve(const std::string& name, DnsCallback callback) {
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  auto* query = new EvdnsQuery(name, std::move(callback));
  evdns_getaddrinfo_request* request =
      evdns_getaddrinfo(dns_, name.c_str(), nullptr, &hints, &EvdnsQuery::onAnswer, query);
  if (request == nullptr) return nullptr;  // answered inline (hosts file): query is gone.
  query->request_ = request;
  return query;
}

}  // namespace mcmesh::upstream
