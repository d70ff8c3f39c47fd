{
  "targets": [
    {
      "target_name": "stallguard",
      "sources": ["binding/stallguard.cc"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      },
      "conditions": [
        ["OS in \"linux mac freebsd openbsd netbsd\"", {
          "sources": ["binding/sockopt_posix.cc"]
        }, {
          "sources": ["binding/sockopt_unsupported.cc"]
        }],
        ["OS == \"linux\"", {
          "sources": ["binding/tcp_info_linux.cc"]
        }]
      ]
    }
  ]
}
