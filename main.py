"""Run the connector without installing it: `python main.py spec|check|discover|read …`."""

from source_harvest.run import run

if __name__ == "__main__":
    run()
