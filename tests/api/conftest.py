from tests.support.appfixtures import fresh_database, live, start_app, template_database

__all__ = ["fresh_database", "live", "start_app", "template_database"]
