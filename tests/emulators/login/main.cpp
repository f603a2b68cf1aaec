// login-emulator: see lib/include/login_emulator/server.hpp and README.md.
#include <exception>
#include <iostream>

#include "login_emulator/server.hpp"

int main(int argc, char** argv) {
  login_emulator::Options options;
  if (auto error = login_emulator::parse_args(argc, argv, options)) {
    std::cerr << "login-emulator: " << *error << "\n"
              << "usage: login-emulator --listen 127.0.0.1:PORT --db FILE "
                 "[--tls-cert F --tls-key F] [--interval-s N] [--code-lifetime-s N] "
                 "[--token-lifetime-s N] [--public-url URL]\n";
    return 2;
  }
  try {
    return login_emulator::run(options);
  } catch (const std::exception& e) {
    std::cerr << "login-emulator: " << e.what() << "\n";
    return 1;
  }
}
