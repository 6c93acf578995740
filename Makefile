# surveybox build and test entry points. CI runs .ci/run, which runs `make test`.
GO ?= go
export SURVEYBOX_CACHE ?= $(HOME)/.cache/surveybox
GOFLAGS_TEST ?= -count=1 -timeout 30m
# FUZZ: "pkg:FuzzName" pairs, each fuzzed for FUZZTIME after the tests
# (the seed corpora also run as plain tests in `go test`).
FUZZ ?= ./wifi:FuzzParseElements ./wifi:FuzzDeriveSecurity ./survey:FuzzDecodeBSS \
	./survey:FuzzDecodeSurveyInfo ./survey:FuzzDecodeScanStream ./proto/batch:FuzzDecode \
	./proto/push:FuzzDecode ./internal/testbed:FuzzParseIWScan ./config:FuzzParse \
	./proto/pull:FuzzBootPartition ./appliance/banner:FuzzParseConsoles \
	./remoteupdate:FuzzImageParts ./flash:FuzzDecodePlist
FUZZTIME ?= 10s
# The operator's tool must build for the machines operators use.
CROSS ?= darwin/arm64 darwin/amd64 windows/amd64 linux/arm64

.PHONY: all test vet testbed-assets prebuild crossbuild image bench clean fuzz demo soak

all: test

# Host tools (qemu, cpio, dosfstools, squashfs-tools, e2fsprogs, mtools,
# openssh-client, iproute2, dnsmasq-base, chromium, tshark) and the cached
# test VM assets.
testbed-assets:
	@internal/testbed/fetch-assets.sh >/dev/null
	@echo "testbed assets: $(SURVEYBOX_CACHE)"

vet:
	$(GO) vet ./...

# Compile before any test runs, so that no test's deadline includes a cold
# compile: the image programs for both architectures (the tests then only
# link them) and, through vet, every package and its dependencies.
prebuild: vet
	$(GO) run ./internal/testimage/prebuild

# surveyctl for every OS operators use; fails if one does not build.
crossbuild:
	@set -e; for t in $(CROSS); do \
		echo "crossbuild surveyctl $$t"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) build -trimpath -o /dev/null ./cmd/surveyctl; \
	done

# The packages that boot VMs run one at a time, after the rest: two TCG
# guests on 2 cores starve each other (and their deadlines).
VM_PKGS = ./internal/testbed ./internal/vmtest ./internal/boottest ./internal/demo
test: testbed-assets prebuild
	$(GO) test $(GOFLAGS_TEST) $$($(GO) list ./... | grep -v -e /internal/testbed$$ -e /internal/vmtest$$ -e /internal/boottest$$ -e /internal/demo$$)
	$(GO) test -p 1 $(GOFLAGS_TEST) $(VM_PKGS)
	@$(MAKE) --no-print-directory crossbuild
	@$(MAKE) --no-print-directory fuzz

fuzz:
	@set -e; for f in $(FUZZ); do \
		pkg=$${f%%:*}; name=$${f#*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# The Raspberry Pi SD card image, from gokr-packer.json. Per-box overrides:
#   make image IMAGE_FLAGS="-hostname box1 -authkey-file key -appliance-config cfg.json"
IMAGE ?= build/surveybox.img
IMAGE_FLAGS ?=
image:
	mkdir -p $(dir $(IMAGE))
	$(GO) run ./cmd/surveyctl image -config gokr-packer.json -o $(IMAGE) $(IMAGE_FLAGS)

# The whole mission on this machine: a test tailnet, the box in a qemu VM
# with simulated radios and access points, collect, pull and the report
# (its path is printed at the end). Needs root (a network bridge for the VM).
DURATION ?= 3m
demo: testbed-assets
	$(GO) test -count=1 -timeout 40m -run '^TestDemo$$' -v ./internal/demo \
		-args -demo.duration=$(DURATION) -demo.out=$(CURDIR)/build/demo

# The scan storm for SOAK on the real kernel while the box pushes to a
# collector that goes down and up (outside make test).
SOAK ?= 10m
soak: testbed-assets
	$(GO) test -count=1 -timeout 60m -tags soak -run '^TestSoak$$' -v ./internal/demo \
		-args -soak.duration=$(SOAK) -demo.out=$(CURDIR)/build/soak

# Micro benchmarks run as long as Go's benchmark loop needs (-benchtime
# default, several runs); the whole-system ones (VMs, boots, images, a
# week's report, tailnet throughput) repeat their own measurement inside
# one iteration and report ratios measured in that run.
MICRO_BENCH = ./wifi ./survey ./spool
bench: testbed-assets
	$(GO) test -run='^$$' -bench=. -benchmem -count=3 -timeout 30m $(MICRO_BENCH)
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 30m $$($(GO) list ./... | grep -v -e /wifi$$ -e /survey$$ -e /spool$$)

clean:
	rm -rf build
	$(GO) clean -testcache
