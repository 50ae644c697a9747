from microfleet.cli.main import app

app()
