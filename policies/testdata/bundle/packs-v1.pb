
exampleêÄêÕ"êı¥Õ*†g{
  "apiVersion": "sitewarden.dev/v1",
  "kind": "Scope",
  "client": "example",
  "sites": [
    "hq"
  ],
  "maxOfflineValidity": "7d",
  "catalog": [
    {
      "name": "directory",
      "version": "0.1.0",
      "sha256": "1f0c3a6e5b2d4c8f9a7e6d5c4b3a29180f7e6d5c4b3a291807f6e5d4c3b2a190",
      "actions": [
        "directory.find_user",
        "directory.get_account_status",
        "directory.list_groups",
        "directory.reset_password",
        "directory.unlock_account",
        "directory.verify_credentials"
      ]
    },
    {
      "name": "host",
      "version": "0.1.0",
      "sha256": "7a3e9c1b5d2f4a6e8c0b9d7f5e3a1c2b4d6f8e0a9c7b5d3f1e2a4c6b8d0f9e7a",
      "actions": [
        "host.cleanup",
        "host.disk_usage",
        "host.restart_service",
        "host.service_status",
        "host.top_processes"
      ]
    }
  ],
  "agents": [
    {
      "name": "account-helper",
      "description": "Unlocks accounts and resets passwords of ordinary staff.",
      "workflows": {
        "account_unlock": {
          "mode": "autonomous",
          "budget": {
            "maxSteps": 8,
            "maxActions": 6,
            "maxWallTime": "5m"
          }
        },
        "password_reset": {
          "mode": "autonomous",
          "budget": {
            "maxSteps": 8,
            "maxActions": 6,
            "maxWallTime": "10m"
          }
        }
      },
      "allow": [
        {
          "id": "read-accounts",
          "description": "look up accounts and check a sign-in",
          "actions": [
            "directory.find_user",
            "directory.get_account_status",
            "directory.list_groups",
            "directory.verify_credentials"
          ]
        },
        {
          "id": "unlock-the-goal-user",
          "description": "unlock the account the goal names",
          "actions": [
            "directory.unlock_account"
          ],
          "workflows": [
            "account_unlock"
          ],
          "when": "has(goal.user) \u0026\u0026 has(target.login) \u0026\u0026 target.login.equalsIgnoreCase(goal.user)"
        },
        {
          "id": "reset-out-of-hours",
          "description": "password resets outside 07:00-19:00 (UTC+1) need a supervisor",
          "actions": [
            "directory.reset_password"
          ],
          "workflows": [
            "password_reset"
          ],
          "when": "now.getHours(\"+01:00\") \u003c 7 || now.getHours(\"+01:00\") \u003e= 19",
          "approval": "required"
        },
        {
          "id": "reset-the-goal-user",
          "description": "reset the password of the account the goal names",
          "actions": [
            "directory.reset_password"
          ],
          "workflows": [
            "password_reset"
          ],
          "when": "has(goal.user) \u0026\u0026 has(target.login) \u0026\u0026 target.login.equalsIgnoreCase(goal.user)"
        }
      ],
      "deny": [
        {
          "id": "never-privileged-accounts",
          "description": "never touch members of privileged groups (or accounts whose groups are unknown)",
          "actions": [
            "directory.unlock_account",
            "directory.reset_password"
          ],
          "when": "!has(target.groups) || target.groups.exists(g, g.name.matches(\"(?i)^(domain admins|enterprise admins|schema admins|administrators|account operators|backup operators)$\"))"
        },
        {
          "id": "only-staff-ous",
          "description": "only accounts under the Staff and Contractors OUs",
          "actions": [
            "directory.unlock_account",
            "directory.reset_password"
          ],
          "when": "!has(target.dn) || !target.dn.matches(\"(?i),ou=(staff|contractors),dc=example,dc=com$\")"
        }
      ],
      "data": {
        "directory": [
          "disabled",
          "display_name",
          "dn",
          "groups",
          "locked",
          "login",
          "must_change",
          "outcome",
          "password_must_change",
          "unlocked",
          "valid",
          "was_locked"
        ]
      }
    },
    {
      "name": "disk-janitor",
      "description": "Frees disk space by deleting old files under named roots.",
      "workflows": {
        "low_disk_space": {
          "mode": "autonomous",
          "budget": {
            "maxSteps": 6,
            "maxActions": 6,
            "maxWallTime": "15m"
          }
        }
      },
      "allow": [
        {
          "id": "inspect-disks",
          "actions": [
            "host.disk_usage",
            "host.top_processes"
          ]
        },
        {
          "id": "cleanup-named-roots",
          "description": "delete old files only under the named temporary and cache roots",
          "actions": [
            "host.cleanup"
          ],
          "when": "has(target.roots) \u0026\u0026 size(target.roots) \u003e 0 \u0026\u0026 target.roots.all(r, r in [\n  \"C:\\\\Windows\\\\Temp\",\n  \"C:\\\\Windows\\\\SoftwareDistribution\\\\Download\",\n  \"/var/tmp\",\n  \"/var/cache/apt/archives\"])"
        }
      ],
      "deny": [
        {
          "id": "cleanup-needs-age",
          "description": "only files at least 7 days old may be deleted",
          "actions": [
            "host.cleanup"
          ],
          "when": "!has(target.older_than_days) || target.older_than_days \u003c 7"
        }
      ],
      "data": {
        "volume": [
          "free_bytes",
          "name",
          "size_bytes"
        ]
      }
    },
    {
      "name": "print-helper",
      "description": "Unsticks the print queue.",
      "workflows": {
        "print_spooler": {
          "mode": "approve",
          "budget": {
            "maxSteps": 6,
            "maxActions": 4,
            "maxWallTime": "10m"
          }
        }
      },
      "allow": [
        {
          "id": "spooler-status",
          "actions": [
            "host.service_status"
          ],
          "when": "has(target.name) \u0026\u0026 target.name == \"Spooler\""
        },
        {
          "id": "restart-spooler",
          "description": "restart the Spooler service only",
          "actions": [
            "host.restart_service"
          ],
          "when": "has(target.name) \u0026\u0026 target.name == \"Spooler\""
        },
        {
          "id": "clear-stuck-jobs",
          "description": "delete spool files only in the spool directory",
          "actions": [
            "host.cleanup"
          ],
          "when": "has(target.roots) \u0026\u0026 size(target.roots) \u003e 0 \u0026\u0026 target.roots.all(r, r == \"C:\\\\Windows\\\\System32\\\\spool\\\\PRINTERS\")"
        }
      ],
      "data": {
        "print_job": [
          "document",
          "owner",
          "status",
          "submitted"
        ],
        "service": [
          "name",
          "state"
        ]
      }
    },
    {
      "name": "service-medic",
      "description": "Restarts named services that have stopped responding.",
      "workflows": {
        "stuck_service": {
          "mode": "autonomous",
          "budget": {
            "maxSteps": 5,
            "maxActions": 4,
            "maxWallTime": "10m"
          }
        }
      },
      "allow": [
        {
          "id": "check-services",
          "actions": [
            "host.service_status"
          ]
        },
        {
          "id": "flapping-needs-approval",
          "description": "a service restarted three times in a day needs a human to look at it",
          "actions": [
            "host.restart_service"
          ],
          "when": "has(target.restarts_last_24h) \u0026\u0026 target.restarts_last_24h \u003e= 3",
          "approval": "required"
        },
        {
          "id": "restart-named-services",
          "description": "restart only the named services",
          "actions": [
            "host.restart_service"
          ],
          "when": "has(target.name) \u0026\u0026 target.name in [\"W32Time\", \"wuauserv\", \"BITS\", \"nginx\", \"cron\"]"
        }
      ],
      "deny": [
        {
          "id": "never-core-services",
          "description": "never restart services the machine or sign-in depends on",
          "actions": [
            "host.restart_service"
          ],
          "when": "!has(target.name) || target.name.lowerAscii() in [\"lsass\", \"winlogon\", \"sshd\", \"windefend\", \"eventlog\", \"rpcss\", \"systemd-logind\"]"
        }
      ],
      "data": {
        "service": [
          "name",
          "restarts_last_24h",
          "state"
        ]
      }
    }
  ],
  "playbooks": {
    "account_unlock": [
      {
        "name": "unlock",
        "steps": [
          {
            "action": "directory.find_user",
            "params": {
              "user": "{{goal.user}}"
            }
          },
          {
            "action": "directory.list_groups",
            "params": {
              "user": "{{goal.user}}"
            }
          },
          {
            "action": "directory.unlock_account",
            "params": {
              "user": "{{goal.user}}"
            }
          }
        ]
      },
      {
        "name": "unlock-by-mail",
        "steps": [
          {
            "action": "directory.find_user",
            "params": {
              "by": "mail",
              "user": "{{goal.mail}}"
            }
          },
          {
            "action": "directory.list_groups",
            "params": {
              "by": "mail",
              "user": "{{goal.mail}}"
            }
          },
          {
            "action": "directory.unlock_account",
            "params": {
              "by": "mail",
              "user": "{{goal.mail}}"
            }
          }
        ]
      }
    ],
    "low_disk_space": [
      {
        "name": "temp-then-cache",
        "steps": [
          {
            "action": "host.disk_usage"
          },
          {
            "action": "host.cleanup",
            "params": {
              "dry_run": false,
              "older_than_days": 14,
              "roots": [
                "/var/tmp"
              ]
            }
          },
          {
            "action": "host.cleanup",
            "params": {
              "dry_run": false,
              "older_than_days": 7,
              "roots": [
                "/var/cache/apt/archives"
              ]
            }
          }
        ]
      },
      {
        "name": "windows-temp",
        "steps": [
          {
            "action": "host.cleanup",
            "params": {
              "dry_run": false,
              "older_than_days": 7,
              "roots": [
                "C:\\Windows\\Temp"
              ]
            }
          }
        ]
      }
    ],
    "password_reset": [
      {
        "name": "reset",
        "steps": [
          {
            "action": "directory.find_user",
            "params": {
              "user": "{{goal.user}}"
            }
          },
          {
            "action": "directory.list_groups",
            "params": {
              "user": "{{goal.user}}"
            }
          },
          {
            "action": "directory.reset_password",
            "params": {
              "user": "{{goal.user}}"
            }
          }
        ]
      }
    ],
    "print_spooler": [
      {
        "name": "restart-spooler",
        "steps": [
          {
            "action": "host.restart_service",
            "params": {
              "name": "Spooler"
            }
          }
        ]
      },
      {
        "name": "clear-queue-and-restart",
        "steps": [
          {
            "action": "host.cleanup",
            "params": {
              "dry_run": false,
              "older_than_days": 1,
              "roots": [
                "C:\\Windows\\System32\\spool\\PRINTERS"
              ]
            }
          },
          {
            "action": "host.restart_service",
            "params": {
              "name": "Spooler"
            }
          }
        ]
      }
    ],
    "stuck_service": [
      {
        "name": "restart",
        "steps": [
          {
            "action": "host.service_status",
            "params": {
              "name": "{{goal.service}}"
            }
          },
          {
            "action": "host.restart_service",
            "params": {
              "name": "{{goal.service}}"
            }
          }
        ]
      }
    ]
  },
  "validation": {
    "account_unlock": {
      "action": "directory.get_account_status",
      "params": {
        "user": "{{goal.user}}"
      },
      "expect": {
        "locked": false
      }
    },
    "low_disk_space": {
      "action": "host.disk_usage"
    },
    "password_reset": {
      "action": "directory.verify_credentials",
      "params": {
        "user": "{{goal.user}}"
      },
      "expect": {
        "valid": true
      }
    },
    "print_spooler": {
      "action": "host.service_status",
      "params": {
        "name": "Spooler"
      }
    },
    "stuck_service": {
      "action": "host.service_status",
      "params": {
        "name": "{{goal.service}}"
      }
    }
  }
}
2@dîô÷RÅ,|\æ_}†;Òå†¬¨œíêÆ≈hrâÊ∂ÿnx¢ò–z3™ayaîH6üf»à›7â"9Ajgº(õ:fe812c12f3ab4ce6