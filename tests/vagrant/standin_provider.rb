# frozen_string_literal: true

# TEST DOUBLE, loaded only by tests/vagrant (through a temporary VAGRANT_HOME/Vagrantfile).
#
# VMs cannot run where the tests run, but the real `vagrant` binary and the real
# Vagrantfile can: this stand-in provider makes Vagrant believe its machines exist,
# so `vagrant status --machine-readable` and `vagrant ssh-config` print their real
# formats (with VirtualBox-like SSH data: 127.0.0.1, forwarded ports), and the
# `standin-dump` command prints each machine's evaluated configuration as JSON.
# It starts nothing and connects to nothing.
#
#   STANDIN_RUNNING   comma-separated machine names reported as running ("all": every one, the default)

require "json"

module VagrantStandin
  # A provider whose machines are running (or not created) by decree.
  class Provider < Vagrant.plugin("2", :provider)
    def initialize(machine)
      super
      @machine = machine
    end

    def state
      wanted = (ENV["STANDIN_RUNNING"] || "all").split(",").map(&:strip)
      id = wanted.include?("all") || wanted.include?(@machine.name.to_s) ? :running : :not_created
      Vagrant::MachineState.new(id, id.to_s.tr("_", " "), "stand-in provider (test double): #{id}")
    end

    def ssh_info
      return nil unless state.id == :running

      # Vagrant core then reports the machine's own key, as after `vagrant up` replaced the insecure one.
      key = @machine.data_dir.join("private_key")
      File.write(key, "stand-in (test double): not a key\n") unless key.file?
      names = @machine.env.machine_names
      index = names.index(@machine.name) || 0
      { host: "127.0.0.1", port: index.zero? ? 2222 : 2199 + index }
    end

    def to_s
      "stand-in (test double)"
    end
  end

  # `vagrant standin-dump`: every machine's evaluated settings, as one JSON array.
  class Dump < Vagrant.plugin("2", :command)
    def self.synopsis
      "test double: print each machine's evaluated configuration as JSON"
    end

    def execute
      machines = []
      with_target_vms([]) { |machine| machines << describe(machine) }
      $stdout.puts(JSON.generate(machines))
      0
    end

    private

    def describe(machine)
      vm = machine.config.vm
      {
        name: machine.name.to_s,
        box: vm.box,
        hostname: vm.hostname,
        networks: vm.networks.map { |type, options| { type: type.to_s, options: options.transform_keys(&:to_s) } },
        synced_folders: vm.synced_folders.values.map { |f| { guestpath: f[:guestpath], disabled: f[:disabled] == true } },
        provisioners: vm.provisioners.map { |p| p.type.to_s },
        virtualbox: provider_settings(vm, :virtualbox),
        libvirt: provider_settings(vm, :libvirt),
      }
    end

    # cpus and memory set for PROVIDER, or nil when its plugin is not installed.
    def provider_settings(vm, provider)
      settings = vm.get_provider_config(provider)
      return nil if settings.nil? || settings.is_a?(Vagrant::Config::V2::DummyConfig)
      return { cpus: settings.cpus, memory: settings.memory } unless provider == :virtualbox

      # VirtualBox keeps cpus/memory as `modifyvm` customizations.
      modify = settings.customizations.map { |_event, command| command }.select { |c| c[0] == "modifyvm" }
      value = ->(flag) { modify.reverse.find { |c| c[2] == flag }&.fetch(3)&.to_i }
      { cpus: value.call("--cpus"), memory: value.call("--memory"), linked_clone: settings.linked_clone }
    end
  end

  # The plugin registering both.
  class Plugin < Vagrant.plugin("2")
    name "standin (test double)"
    provider(:standin) { Provider }
    command("standin-dump") { Dump }
  end
end
