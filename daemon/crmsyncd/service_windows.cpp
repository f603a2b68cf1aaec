// Windows service glue: when the service control manager starts crmsyncd, SERVICE_CONTROL_STOP
// and SERVICE_CONTROL_SHUTDOWN become ServiceControl::request_stop(); SERVICE_CONTROL_PARAMCHANGE
// reloads. From a console, Ctrl-C (SIGINT) stops. Built only on Windows (CMake chooses).
#include <windows.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <memory>

#include "service.hpp"

namespace crmsync::daemon {
namespace {

wchar_t kServiceName[] = L"crmsyncd";

struct ScmState {
  SERVICE_STATUS_HANDLE handle = nullptr;
  SERVICE_STATUS status{};
  ServiceControl control;
  const std::function<int(int, char**, ServiceControl&)>* body = nullptr;
  int argc = 0;
  char** argv = nullptr;
  int exit_code = 0;
};
ScmState g_scm;

void report(DWORD state, DWORD exit_code = NO_ERROR) {
  g_scm.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  g_scm.status.dwCurrentState = state;
  g_scm.status.dwWin32ExitCode = exit_code;
  g_scm.status.dwControlsAccepted =
      state == SERVICE_RUNNING
          ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
          : 0;
  SetServiceStatus(g_scm.handle, &g_scm.status);
}

DWORD WINAPI control_handler(DWORD code, DWORD, LPVOID, LPVOID) {
  switch (code) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      report(SERVICE_STOP_PENDING);
      g_scm.control.request_stop();
      return NO_ERROR;
    case SERVICE_CONTROL_PARAMCHANGE:
      g_scm.control.request_reload();
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI service_entry(DWORD, LPWSTR*) {
  g_scm.handle = RegisterServiceCtrlHandlerExW(kServiceName, control_handler, nullptr);
  if (!g_scm.handle) return;
  g_scm.control.set_windows_service(true);
  report(SERVICE_RUNNING);
  g_scm.exit_code = (*g_scm.body)(g_scm.argc, g_scm.argv, g_scm.control);
  report(SERVICE_STOPPED, g_scm.exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR);
}

void wait_stop(std::shared_ptr<boost::asio::signal_set> set, ServiceControl& control) {
  set->async_wait([set, &control](const boost::system::error_code& ec, int) {
    if (ec) return;
    control.request_stop();
    wait_stop(set, control);
  });
}

}  // namespace

void watch_service_signals(boost::asio::io_context& io, ServiceControl& control) {
  wait_stop(std::make_shared<boost::asio::signal_set>(io, SIGINT, SIGTERM), control);
}

int service_main(int argc, char** argv,
                 const std::function<int(int, char**, ServiceControl&)>& body) {
  g_scm.body = &body;
  g_scm.argc = argc;
  g_scm.argv = argv;
  SERVICE_TABLE_ENTRYW table[] = {{kServiceName, service_entry}, {nullptr, nullptr}};
  if (StartServiceCtrlDispatcherW(table)) return g_scm.exit_code;
  if (GetLastError() != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return 1;
  return body(argc, argv, g_scm.control);  // started from a console
}

}  // namespace crmsync::daemon
