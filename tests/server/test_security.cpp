// Security defaults (issue 6): the server listens on loopback unless told otherwise, so a
// fresh `strata serve` is not reachable from the network.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include "server_fixture.h"

namespace strata::testing {
namespace {

// The first IPv4 address of an interface that is up and not loopback, if any.
std::optional<in_addr> non_loopback_ipv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<in_addr> found;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    in_addr a = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr;
    if ((ntohl(a.s_addr) >> 24) != 127) found = a;
  }
  freeifaddrs(list);
  return found;
}

bool can_connect(in_addr address, unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = address;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  close(fd);
  return ok;
}

TEST(ServerSecurity, DefaultHostIsLoopback) { EXPECT_EQ(ServerConfig{}.host, "127.0.0.1"); }

TEST_F(ServerTest, DefaultConfigIsNotReachableFromOtherInterfaces) {
  auto outside = non_loopback_ipv4();
  if (!outside) GTEST_SKIP() << "no non-loopback IPv4 interface on this machine";
  ServerConfig config;  // the defaults, apart from an ephemeral port
  config.port = 0;
  start(config);
  in_addr loopback{};
  loopback.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_TRUE(can_connect(loopback, port()));
  EXPECT_FALSE(can_connect(*outside, port()));
}

}  // namespace
}  // namespace strata::testing
