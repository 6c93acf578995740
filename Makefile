# surveybox build and test entry points. CI runs .ci/run, which runs `make test`.
GO ?= go
export SURVEYBOX_CACHE ?= $(HOME)/.cache/surveybox
GOFLAGS_TEST ?= -count=1 -timeout 30m
# FUZZ: "pkg:FuzzName" pairs, each fuzzed for FUZZTIME after the tests
# (the seed corpora also run as plain tests in `go test`).
FUZZ ?= ./survey:FuzzParseElements ./survey:FuzzDeriveSecurity ./survey:FuzzDecodeBSS \
	./survey:FuzzDecodeSurveyInfo ./survey:FuzzDecodeScanStream ./internal/testbed:FuzzParseIWScan
FUZZTIME ?= 10s

.PHONY: all test vet testbed-assets image bench clean fuzz

all: test

# Host tools (qemu, cpio, dosfstools, squashfs-tools, e2fsprogs, mtools,
# openssh-client, iproute2, dnsmasq-base) and the cached test VM assets.
testbed-assets:
	@internal/testbed/fetch-assets.sh >/dev/null
	@echo "testbed assets: $(SURVEYBOX_CACHE)"

vet:
	$(GO) vet ./...

test: testbed-assets vet
	$(GO) test $(GOFLAGS_TEST) ./...
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

bench: testbed-assets
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 30m ./...

clean:
	rm -rf build
	$(GO) clean -testcache
